/*
 * GET /files/download (api-contract §7.8) in a worker: opens the file,
 * decides the status and headers (Range, If-Modified-Since,
 * If-Unmodified-Since, Content-Disposition) and replies with the open
 * descriptor and the byte range; the master sends that range with sendfile.
 */
#ifndef EXECD_DOWNLOAD_H
#define EXECD_DOWNLOAD_H

#include <json-c/json.h>
#include <stdint.h>

/* fs.download {path, range, if_modified_since, if_unmodified_since}. */
void download_run(uint32_t job, json_object *msg);

#endif
