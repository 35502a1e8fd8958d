/*
 * The Jupyter messaging wire protocol (v5.3) as ZeroMQ multipart frames:
 *
 *   [identities...] "<IDS|MSG>" signature header parent_header metadata content [buffers...]
 *
 * The signature is the lowercase hex HMAC-SHA256 of the four JSON frames, keyed
 * with the ASCII bytes of the connection file's key; an empty key means
 * messages are neither signed nor checked (jupyter_client's behaviour).
 * This module only builds and parses frames; sockets live in kernel_sock.c.
 */
#ifndef EXECD_JMSG_H
#define EXECD_JMSG_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define JMSG_DELIM "<IDS|MSG>"
#define JMSG_VERSION "5.3"
#define JMSG_SIG_HEX 64
/* Outgoing frames: delimiter, signature, header, parent, metadata, content. */
#define JMSG_OUT_FRAMES 6

/* One received or outgoing frame (not NUL-terminated). */
struct jmsg_frame {
    const void *data;
    size_t len;
};

/* The signing key and a keyed HMAC template, reused for every message. */
struct jmsg_auth;

/* key "" disables signing. Returns NULL (reason in err) when OpenSSL fails. */
struct jmsg_auth *jmsg_auth_new(const char *key, struct strbuf *err);
void jmsg_auth_free(struct jmsg_auth *auth);
/* Whether messages are signed (non-empty key). */
bool jmsg_auth_enabled(const struct jmsg_auth *auth);
/*
 * Lowercase hex HMAC-SHA256 of the four frames into hex (JMSG_SIG_HEX + 1
 * bytes). With signing disabled hex is "". Returns 0, or -1 when OpenSSL fails.
 */
int jmsg_auth_sign(const struct jmsg_auth *auth, const struct jmsg_frame parts[4], char *hex);

/* A serialized outgoing message; frames[i].data are the bytes to send. */
struct jmsg_out {
    struct strbuf frames[JMSG_OUT_FRAMES];
};

/*
 * Builds a signed message. content is borrowed (NULL: {}); parent is the
 * parent header (NULL: {}). The header carries msg_id, session, username,
 * date (RFC 3339, UTC, microseconds), msg_type and version. Returns 0, or -1
 * with a reason in err (out is then empty). Free out with jmsg_out_free.
 */
int jmsg_build(struct jmsg_out *out, const struct jmsg_auth *auth, const char *session,
               const char *msg_id, const char *msg_type, json_object *content, json_object *parent,
               struct strbuf *err);
void jmsg_out_free(struct jmsg_out *out);

/* A parsed incoming message. The strings point into the owned objects. */
struct jmsg {
    json_object *header, *parent, *metadata, *content; /* JSON objects, owned */
    const char *msg_type;
    const char *msg_id;    /* "" when the header has none */
    const char *parent_id; /* parent_header.msg_id, "" when absent */
    size_t nids;           /* identity frames before the delimiter */
};

/*
 * Parses frames: finds the delimiter (anywhere), checks the signature in
 * constant time on the raw header/parent/metadata/content bytes, decodes the
 * four JSON objects. Frames after content (buffers) are ignored. Returns 0,
 * or -1 with a reason in err for a missing delimiter or frame, a bad
 * signature, invalid JSON or a header without msg_type; m is then empty.
 * Unknown message types are accepted. Free m with jmsg_free.
 */
int jmsg_parse(struct jmsg *m, const struct jmsg_auth *auth, const struct jmsg_frame *frames,
               size_t n, struct strbuf *err);
void jmsg_free(struct jmsg *m);

/* content[key] as a string, or NULL if absent or not a string. */
const char *jmsg_str(const struct jmsg *m, const char *key);
/* content[key] as an integer, or dflt. */
int64_t jmsg_int(const struct jmsg *m, const char *key, int64_t dflt);

#endif
