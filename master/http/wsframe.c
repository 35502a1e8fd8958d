#include "http/wsframe.h"

#include <arpa/inet.h>
#include <string.h>
#include <wslay/wslay.h>

#include "common.h"
#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

/* RFC 6455 5.5: a control frame's payload. */
#define CONTROL_MAX 125
/* A close reason: the payload less the 2-byte code. */
#define REASON_MAX (CONTROL_MAX - 2)

struct wsframe {
    wslay_frame_context_ptr ctx;
    const struct wsframe_ops *ops;
    void *arg;
    size_t max_message;
    struct evbuffer *in;  /* while parsing: where wslay's reads come from */
    struct evbuffer *out; /* while writing: where wslay's writes go */
    int failed;           /* the close code of a violation, once one happened */
    /* The frame being read. */
    bool in_frame;
    int frame_opcode;
    bool frame_fin;
    uint64_t frame_left;
    /* The data message being assembled (opcode 0: none) and the control frame being read. */
    int msg_opcode;
    struct strbuf msg;
    char ctrl[CONTROL_MAX];
    size_t ctrl_len;
};

static ssize_t on_recv(uint8_t *buf, size_t len, int flags EXECD_UNUSED, void *arg)
{
    struct wsframe *f = arg;
    int n = evbuffer_remove(f->in, buf, len);
    return n > 0 ? n : -1; /* -1: wslay waits for more (WSLAY_ERR_WANT_READ) */
}

static ssize_t on_send(const uint8_t *data, size_t len, int flags EXECD_UNUSED, void *arg)
{
    struct wsframe *f = arg;
    if (evbuffer_add(f->out, data, len) != 0)
        xalloc_die("a WebSocket frame");
    return (ssize_t)len;
}

static int on_genmask(uint8_t *buf EXECD_UNUSED, size_t len EXECD_UNUSED, void *arg EXECD_UNUSED)
{
    return -1; /* a server never masks */
}

static const struct wslay_frame_callbacks callbacks = {on_send, on_recv, on_genmask};

struct wsframe *wsframe_new(size_t max_message, const struct wsframe_ops *ops, void *arg)
{
    struct wsframe *f = xcalloc(1, sizeof(*f));
    if (wslay_frame_context_init(&f->ctx, &callbacks, f) != 0)
        xalloc_die("a WebSocket frame context");
    f->ops = ops;
    f->arg = arg;
    f->max_message = max_message;
    return f;
}

void wsframe_free(struct wsframe *f)
{
    if (f == NULL)
        return;
    wslay_frame_context_free(f->ctx);
    strbuf_free(&f->msg);
    free(f);
}

bool wsframe_valid_close_code(int code)
{
    return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
           (code >= 3000 && code <= 4999);
}

static bool is_control(int opcode)
{
    return (opcode & 0x8) != 0;
}

static int fail(struct wsframe *f, int code)
{
    f->failed = code;
    return code;
}

/* The first chunk of a frame: its header is checked before any payload is kept. */
static int frame_start(struct wsframe *f, const struct wslay_frame_iocb *io)
{
    if (io->rsv != 0 || !io->mask)
        return WS_CLOSE_PROTOCOL; /* no extension was negotiated; clients must mask */
    switch (io->opcode) {
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        break; /* wslay refused fragmented and oversized control frames */
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        if (f->msg_opcode != 0)
            return WS_CLOSE_PROTOCOL; /* a new message inside a fragmented one */
        break;
    case WS_OP_CONT:
        if (f->msg_opcode == 0)
            return WS_CLOSE_PROTOCOL; /* nothing to continue */
        break;
    default:
        return WS_CLOSE_PROTOCOL;
    }
    if (!is_control(io->opcode) && io->payload_length > f->max_message - f->msg.len)
        return WS_CLOSE_TOO_BIG;
    f->in_frame = true;
    f->frame_opcode = io->opcode;
    f->frame_fin = io->fin;
    f->frame_left = io->payload_length;
    if (is_control(io->opcode)) {
        f->ctrl_len = 0;
    } else {
        if (io->opcode != WS_OP_CONT)
            f->msg_opcode = io->opcode;
        strbuf_reserve(&f->msg, (size_t)io->payload_length);
    }
    return 0;
}

/* A whole control frame: a close is checked (code, UTF-8 reason) before it is reported. */
static int control_end(struct wsframe *f, bool *more)
{
    int code = WS_CLOSE_NO_STATUS;
    const char *data = f->ctrl;
    size_t len = f->ctrl_len;
    if (f->frame_opcode == WS_OP_CLOSE && len > 0) {
        if (len == 1)
            return WS_CLOSE_PROTOCOL;
        code = ((unsigned char)data[0] << 8) | (unsigned char)data[1];
        if (!wsframe_valid_close_code(code))
            return WS_CLOSE_PROTOCOL;
        data += 2;
        len -= 2;
        if (!utf8_valid(data, len))
            return WS_CLOSE_BAD_DATA;
    }
    *more = f->ops->control(f->arg, f->frame_opcode, code, data, len);
    return 0;
}

/* The last frame of a data message. */
static int message_end(struct wsframe *f, bool *more)
{
    int opcode = f->msg_opcode;
    f->msg_opcode = 0;
    if (opcode == WS_OP_TEXT && !utf8_valid(f->msg.data ? f->msg.data : "", f->msg.len))
        return WS_CLOSE_BAD_DATA;
    *more = f->ops->message(f->arg, opcode, f->msg.data ? f->msg.data : "", f->msg.len);
    strbuf_reset(&f->msg);
    return 0;
}

/* A chunk of the current frame's payload, and the frame's end when it is the last. */
static int frame_chunk(struct wsframe *f, const struct wslay_frame_iocb *io, bool *more)
{
    if (is_control(f->frame_opcode)) {
        memcpy(f->ctrl + f->ctrl_len, io->data, io->data_length); /* wslay: at most 125 */
        f->ctrl_len += io->data_length;
    } else {
        strbuf_append(&f->msg, io->data, io->data_length);
    }
    f->frame_left -= io->data_length;
    if (f->frame_left > 0)
        return 0;
    f->in_frame = false;
    if (is_control(f->frame_opcode))
        return control_end(f, more);
    return f->frame_fin ? message_end(f, more) : 0;
}

int wsframe_parse(struct wsframe *f, struct evbuffer *in)
{
    if (f->failed != 0)
        return f->failed;
    f->in = in;
    bool more = true;
    int rc = 0;
    while (more && rc == 0) {
        struct wslay_frame_iocb io;
        memset(&io, 0, sizeof(io));
        ssize_t r = wslay_frame_recv(f->ctx, &io);
        if (r == WSLAY_ERR_WANT_READ)
            break;
        if (r < 0) {
            rc = WS_CLOSE_PROTOCOL; /* a malformed header (wslay's WSLAY_ERR_PROTO) */
            break;
        }
        if (!f->in_frame)
            rc = frame_start(f, &io);
        if (rc == 0)
            rc = frame_chunk(f, &io, &more);
    }
    f->in = NULL;
    return rc != 0 ? fail(f, rc) : 0;
}

int wsframe_write(struct wsframe *f, struct evbuffer *out, int opcode, const void *data, size_t len)
{
    struct wslay_frame_iocb io;
    memset(&io, 0, sizeof(io));
    io.fin = 1;
    io.opcode = (uint8_t)opcode;
    io.payload_length = len;
    io.data = data;
    io.data_length = len;
    f->out = out;
    ssize_t r = wslay_frame_send(f->ctx, &io);
    f->out = NULL;
    return r == (ssize_t)len ? 0 : -1;
}

int wsframe_write_close(struct wsframe *f, struct evbuffer *out, int code, const char *reason)
{
    char payload[CONTROL_MAX];
    size_t len = strlen(reason);
    if (len > REASON_MAX)
        len = utf8_cut(reason, REASON_MAX);
    payload[0] = (char)((code >> 8) & 0xff);
    payload[1] = (char)(code & 0xff);
    memcpy(payload + 2, reason, len);
    return wsframe_write(f, out, WS_OP_CLOSE, payload, len + 2);
}
