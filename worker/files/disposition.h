/*
 * The Content-Disposition value of GET /files/download.
 *
 * Plain names, exactly like the Go daemon:
 *     attachment; filename="<name>"
 * Names with any byte >= 0x80 (non-ASCII, also invalid UTF-8), like Go:
 *     attachment; filename="<pct>"; filename*=UTF-8''<pct>
 * where <pct> is the name percent-encoded (uppercase hex) in the manner of
 * Go's url.PathEscape: "测试.txt" -> "%E6%B5%8B%E8%AF%95.txt", a space -> "%20".
 *
 * Where we do better than Go:
 *  - Go puts ASCII names inside the quotes as they are, so a '"' or '\'
 *    ends or corrupts the quoted-string and a CR/LF would split the header.
 *    Such names (any '"', '\' or control character, including DEL) take the
 *    percent-encoded form instead, which is always a valid header and still
 *    gives RFC 6266 clients the exact name through filename*.
 *  - Go's PathEscape leaves ':', '=' and '@' unescaped, which RFC 5987 does
 *    not allow in filename*; we escape them too. The characters left as they
 *    are: A-Z a-z 0-9 - . _ ~ $ & + (valid in both a URL path and RFC 5987).
 */
#ifndef EXECD_DISPOSITION_H
#define EXECD_DISPOSITION_H

#include <stddef.h>

#include "strbuf.h"

/* Appends the header value for a file called name[0..len). */
void disposition_format(struct strbuf *out, const char *name, size_t len);

/* Appends the header value for path's last element (Go's filepath.Base: "a/b/" -> "b"). */
void disposition_for_path(struct strbuf *out, const char *path);

#endif
