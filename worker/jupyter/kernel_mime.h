/*
 * MIME bundles of execute_result / display_data rendered as the `results`
 * object of a `result` event: the key "text/plain" becomes "text" (the SDKs
 * read results.text), every other key is kept verbatim. Keys are sorted and
 * strings escaped as Go's encoding/json does (the Go daemon re-encodes a map),
 * so the bytes match the Go daemon's; numbers keep their original spelling.
 */
#ifndef EXECD_KERNEL_MIME_H
#define EXECD_KERNEL_MIME_H

#include <json-c/json.h>

#include "strbuf.h"

/* Appends the rendered object to out; NULL or a non-object renders "{}". */
void kernel_mime_render(json_object *data, struct strbuf *out);

#endif
