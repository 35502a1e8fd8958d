/*
 * The pattern is compiled to a tiny program (one instruction per pattern
 * element, alternatives as forward splits and jumps) and run by a backtracking
 * matcher. Jumps only go forward, so the program is a DAG: the recursion depth
 * is bounded by the program length, and remembering the outcome of every
 * (branch instruction, path position) pair makes the run time polynomial
 * whatever the pattern.
 */
#include "files/glob.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* Nesting of {..} and !(..) beyond this is rejected: it bounds the compiler's recursion. */
#define GLOB_MAX_NESTING 64

enum op {
    OP_MATCH, /* end of pattern: the path must be consumed */
    OP_BYTE,  /* one literal byte (multi-byte characters are several) */
    OP_SLASH, /* a literal '/' (special at the end of the path, see zero_tail) */
    OP_ANY,   /* '?' */
    OP_CLASS, /* [...] interpreted from the pattern text */
    OP_STAR,  /* '*' */
    OP_GSTAR, /* "**" at the start of a segment */
    OP_SPLIT, /* try pc+1, then a */
    OP_JMP,   /* continue at a */
    OP_NOP,
    OP_NEG, /* succeed iff pc+1 fails */
};

struct insn {
    unsigned char op;
    unsigned char byte; /* OP_BYTE: the byte; OP_CLASS: 1 when negated */
    uint32_t a;         /* OP_SPLIT / OP_JMP: target; OP_CLASS: body start in the text */
    uint32_t b;         /* OP_CLASS: body end (the closing ']') */
};

struct glob {
    char *text; /* the pattern: classes are read from it at match time */
    struct insn *prog;
    size_t len;
    bool branchy; /* has STAR/GSTAR/SPLIT/NEG: matching needs the memo */
    /* The memo table of the last match, kept for the next one: a search matches one
     * pattern against every name of a tree. */
    unsigned char *memo;
    size_t memo_cap;
};

struct compiler {
    struct glob *g;
    const char *pat;
    size_t pos, plen;
    int depth;
    int err;
};

/* Pending forward jumps are chained through their target field until patched. */
#define NO_JUMP UINT32_MAX

/*
 * Decodes one code point. Bytes that are not valid UTF-8 count as one
 * U+FFFD each, like Go's utf8.DecodeRuneInString.
 */
static uint32_t decode(const unsigned char *s, size_t avail, size_t *len)
{
    size_t n = utf8_valid_seq(s, avail);
    switch (n) {
    case 1:
        *len = 1;
        return s[0];
    case 2:
        *len = 2;
        return ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
    case 3:
        *len = 3;
        return ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    case 4:
        *len = 4;
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
               ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
    default:
        *len = 1;
        return 0xfffd;
    }
}

/* ---- compiler ---- */

/* The program never outgrows its initial size (see glob_compile), so emit cannot fail. */
static size_t emit(struct compiler *c, enum op op, unsigned char byte)
{
    struct insn *in = &c->g->prog[c->g->len];
    in->op = (unsigned char)op;
    in->byte = byte;
    in->a = 0;
    in->b = 0;
    if (op == OP_STAR || op == OP_GSTAR || op == OP_SPLIT || op == OP_NEG)
        c->g->branchy = true;
    return c->g->len++;
}

static int compile_seq(struct compiler *c, const char *stops, bool *seg);

/*
 * Compiles a group's alternatives up to its closer: "a,b}" for braces
 * (stops ",}"), "a|b)" for a negation body (stops "|)"). Each alternative
 * starts in the segment state *seg had before the group; afterwards *seg is
 * true only when every alternative ends at a segment start.
 */
static void compile_group(struct compiler *c, const char stops[3], bool *seg)
{
    uint32_t pending = NO_JUMP;
    bool seg_out = true;

    if (++c->depth > GLOB_MAX_NESTING) {
        c->err = GLOB_EBADPAT;
        return;
    }
    for (;;) {
        size_t split = emit(c, OP_SPLIT, 0);
        bool s = *seg;
        int term = compile_seq(c, stops, &s);
        if (c->err != 0)
            return;
        if (term == 0) { /* pattern ended inside the group */
            c->err = GLOB_EBADPAT;
            return;
        }
        seg_out = seg_out && s;
        if (term == stops[0]) {
            size_t j = emit(c, OP_JMP, 0);
            c->g->prog[j].a = pending;
            pending = (uint32_t)j;
            c->g->prog[split].a = (uint32_t)c->g->len;
        } else {
            c->g->prog[split].op = OP_NOP; /* last alternative: nothing else to try */
            break;
        }
    }
    while (pending != NO_JUMP) {
        uint32_t next = c->g->prog[pending].a;
        c->g->prog[pending].a = (uint32_t)c->g->len;
        pending = next;
    }
    c->depth--;
    *seg = seg_out;
}

/* Validates the class starting at c->pos ('[') and emits it. */
static void compile_class(struct compiler *c)
{
    const char *p = c->pat;
    size_t i = c->pos + 1;
    unsigned char negate = 0;

    if (i < c->plen && (p[i] == '!' || p[i] == '^')) {
        negate = 1;
        i++;
    }
    if (i >= c->plen || p[i] == ']') { /* unterminated or empty class */
        c->err = GLOB_EBADPAT;
        return;
    }
    size_t body = i;
    for (; i < c->plen; i++) {
        if (p[i] == '\\') {
            if (++i >= c->plen)
                break;
        } else if (p[i] == ']') {
            break;
        }
    }
    if (i >= c->plen) {
        c->err = GLOB_EBADPAT;
        return;
    }
    size_t at = emit(c, OP_CLASS, negate);
    c->g->prog[at].a = (uint32_t)body;
    c->g->prog[at].b = (uint32_t)i;
    c->pos = i + 1;
}

/*
 * Compiles until the end of the pattern or one of stops (at this nesting
 * level). Returns the stop character consumed, or 0 at the end.
 */
static int compile_seq(struct compiler *c, const char *stops, bool *seg)
{
    while (c->pos < c->plen && c->err == 0) {
        unsigned char ch = (unsigned char)c->pat[c->pos];
        if (stops != NULL && (ch == (unsigned char)stops[0] || ch == (unsigned char)stops[1])) {
            c->pos++;
            return ch;
        }
        switch (ch) {
        case '*': {
            size_t run = 0;
            while (c->pos < c->plen && c->pat[c->pos] == '*') {
                run++;
                c->pos++;
            }
            /* Whether "**" spans segments depends on what follows; OP_GSTAR decides at run time. */
            emit(c, run >= 2 && *seg ? OP_GSTAR : OP_STAR, 0);
            *seg = false;
            break;
        }
        case '?':
            emit(c, OP_ANY, 0);
            c->pos++;
            *seg = false;
            break;
        case '[':
            compile_class(c);
            *seg = false;
            break;
        case '{': {
            static const char brace_stops[3] = {',', '}', '\0'};
            c->pos++;
            compile_group(c, brace_stops, seg);
            break;
        }
        case '}': /* a '}' that closes nothing */
            c->err = GLOB_EBADPAT;
            break;
        case '!':
            if (c->pos + 1 < c->plen && c->pat[c->pos + 1] == '(') {
                static const char neg_stops[3] = {'|', ')', '\0'};
                c->pos += 2;
                emit(c, OP_NEG, 0);
                compile_group(c, neg_stops, seg);
            } else {
                emit(c, OP_BYTE, ch);
                c->pos++;
                *seg = false;
            }
            break;
        case '\\':
            if (c->pos + 1 >= c->plen) { /* nothing to escape */
                c->err = GLOB_EBADPAT;
                break;
            }
            ch = (unsigned char)c->pat[c->pos + 1];
            c->pos += 2;
            emit(c, ch == '/' ? OP_SLASH : OP_BYTE, ch);
            *seg = ch == '/';
            break;
        case '/':
            emit(c, OP_SLASH, ch);
            c->pos++;
            *seg = true;
            break;
        default:
            emit(c, OP_BYTE, ch);
            c->pos++;
            *seg = false;
            break;
        }
    }
    return 0;
}

int glob_compile(const char *pattern, struct glob **out)
{
    size_t plen = strlen(pattern);
    *out = NULL;
    if (plen > GLOB_MAX_PATTERN)
        return GLOB_EBADPAT;

    struct glob *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return GLOB_ENOMEM;
    g->text = strdup(pattern);
    /*
     * Upper bound of the program size: every pattern byte yields at most one
     * instruction, except ',' and '|' (a jump and a split), plus '{' / "!("
     * (one split) and the final OP_MATCH.
     */
    g->prog = malloc((2 * plen + 2) * sizeof(*g->prog));
    if (g->text == NULL || g->prog == NULL) {
        glob_free(g);
        return GLOB_ENOMEM;
    }

    struct compiler c = {.g = g, .pat = g->text, .pos = 0, .plen = plen, .depth = 0, .err = 0};
    bool seg = true;
    compile_seq(&c, NULL, &seg);
    if (c.err != 0) {
        glob_free(g);
        return c.err;
    }
    emit(&c, OP_MATCH, 0);
    *out = g;
    return 0;
}

void glob_free(struct glob *g)
{
    if (g == NULL)
        return;
    free(g->text);
    free(g->prog);
    free(g->memo);
    free(g);
}

/* ---- matcher ---- */

struct run {
    const struct glob *g;
    const unsigned char *s;
    size_t n;
    unsigned char *memo; /* (pc, pos) -> 0 unknown, 1 no match, 2 match */
};

static size_t skip_jumps(const struct glob *g, size_t pc)
{
    for (;;) {
        if (g->prog[pc].op == OP_JMP)
            pc = g->prog[pc].a;
        else if (g->prog[pc].op == OP_NOP)
            pc++;
        else
            return pc;
    }
}

/*
 * True when what follows a '/' at pc can match nothing at the end of the
 * path: "**" then the end, or "**" + "/" then the end (so "a/" + "**" and
 * "a/" + "**" + "/" match "a", because a may be a directory).
 */
static bool zero_tail(const struct glob *g, size_t pc)
{
    pc = skip_jumps(g, pc);
    if (g->prog[pc].op != OP_GSTAR)
        return false;
    pc = skip_jumps(g, pc + 1);
    if (g->prog[pc].op == OP_SLASH)
        pc = skip_jumps(g, pc + 1);
    return g->prog[pc].op == OP_MATCH;
}

static bool class_has(const unsigned char *p, const unsigned char *end, uint32_t c)
{
    const uint32_t none = UINT32_MAX;
    uint32_t last = none;
    size_t n;

    while (p < end) {
        uint32_t r = decode(p, (size_t)(end - p), &n);
        p += n;
        if (r == '-' && last != none && p < end) { /* a range last-hi */
            if (*p == '\\')
                p++;
            uint32_t hi = decode(p, (size_t)(end - p), &n);
            p += n;
            if (last <= c && c <= hi)
                return true;
            last = none; /* "[a-b-d]": the next '-' is literal */
            continue;
        }
        if (r == '\\') {
            r = decode(p, (size_t)(end - p), &n);
            p += n;
        }
        if (r == c)
            return true;
        last = r;
    }
    return false;
}

static int run_from(struct run *r, size_t pc, size_t pos);

/*
 * The answer of a STAR or GSTAR instruction at a position is the OR of its
 * continuation at that and later positions, so every position the loop walked
 * through before deciding shares the answer: remembering them all keeps a
 * whole pattern linear in the path length per instruction instead of
 * quadratic. Positions are re-walked exactly as the loop stepped.
 */
static void remember(struct run *r, size_t pc, size_t from, size_t to, bool by_segment, int res)
{
    unsigned char *row = &r->memo[pc * (r->n + 1)];
    while (from < to) {
        row[from] = (unsigned char)(res + 1);
        if (by_segment) {
            const unsigned char *slash = memchr(r->s + from, '/', r->n - from);
            from = slash != NULL ? (size_t)(slash - r->s) + 1 : r->n + 1;
        } else {
            size_t len;
            decode(r->s + from, r->n - from, &len);
            from += len;
        }
    }
}

static int known(const struct run *r, size_t pc, size_t pos)
{
    return r->memo[pc * (r->n + 1) + pos];
}

/* '*' at pc: the continuation at every position up to the next '/'. */
static int star(struct run *r, size_t pc, size_t pos)
{
    size_t next = pc + 1, start = pos;
    int res;

    if (r->g->prog[skip_jumps(r->g, next)].op == OP_MATCH)
        return memchr(r->s + pos, '/', r->n - pos) == NULL;
    for (;;) {
        if (pos != start && known(r, pc, pos) != 0) {
            res = known(r, pc, pos) - 1;
            break;
        }
        if (run_from(r, next, pos)) {
            res = 1;
            break;
        }
        if (pos >= r->n || r->s[pos] == '/') {
            res = 0;
            break;
        }
        size_t len;
        decode(r->s + pos, r->n - pos, &len);
        pos += len;
    }
    remember(r, pc, start, pos, false, res);
    return res;
}

/* "**" at pc: zero or more whole segments when it is a whole segment, else a '*'. */
static int globstar(struct run *r, size_t pc, size_t pos)
{
    size_t next = skip_jumps(r->g, pc + 1), start = pos;
    int res;

    if (r->g->prog[next].op == OP_MATCH)
        return 1;
    if (r->g->prog[next].op != OP_SLASH)
        return star(r, pc, pos);
    next++; /* the '/' is part of the globstar */
    for (;;) {
        if (pos != start && known(r, pc, pos) != 0) {
            res = known(r, pc, pos) - 1;
            break;
        }
        if (run_from(r, next, pos)) {
            res = 1;
            break;
        }
        const unsigned char *slash = memchr(r->s + pos, '/', r->n - pos);
        if (slash == NULL) {
            res = 0;
            break;
        }
        pos = (size_t)(slash - r->s) + 1;
    }
    remember(r, pc, start, pos, true, res);
    return res;
}

static int branch(struct run *r, size_t pc, size_t pos)
{
    unsigned char *m = &r->memo[pc * (r->n + 1) + pos];
    if (*m != 0)
        return *m - 1;

    const struct insn *in = &r->g->prog[pc];
    int res = 0;
    switch (in->op) {
    case OP_SPLIT:
        res = run_from(r, pc + 1, pos) || run_from(r, in->a, pos);
        break;
    case OP_NEG:
        res = !run_from(r, pc + 1, pos);
        break;
    case OP_STAR:
        res = star(r, pc, pos);
        break;
    case OP_GSTAR:
        res = globstar(r, pc, pos);
        break;
    default:
        break;
    }
    *m = (unsigned char)(res + 1);
    return res;
}

static int run_from(struct run *r, size_t pc, size_t pos)
{
    const struct glob *g = r->g;
    size_t len;

    for (;;) {
        const struct insn *in = &g->prog[pc];
        switch (in->op) {
        case OP_MATCH:
            return pos == r->n;
        case OP_BYTE:
            if (pos >= r->n || r->s[pos] != in->byte)
                return 0;
            pos++;
            pc++;
            break;
        case OP_SLASH:
            if (pos >= r->n)
                return zero_tail(g, pc + 1);
            if (r->s[pos] != '/')
                return 0;
            pos++;
            pc++;
            break;
        case OP_ANY:
            if (pos >= r->n || r->s[pos] == '/')
                return 0;
            decode(r->s + pos, r->n - pos, &len);
            pos += len;
            pc++;
            break;
        case OP_CLASS: {
            if (pos >= r->n || r->s[pos] == '/')
                return 0;
            uint32_t c = decode(r->s + pos, r->n - pos, &len);
            const unsigned char *text = (const unsigned char *)g->text;
            if (class_has(text + in->a, text + in->b, c) == (in->byte != 0))
                return 0;
            pos += len;
            pc++;
            break;
        }
        case OP_JMP:
            pc = in->a;
            break;
        case OP_NOP:
            pc++;
            break;
        default:
            return branch(r, pc, pos);
        }
    }
}

int glob_exec(struct glob *g, const char *path, size_t len)
{
    struct run r = {.g = g, .s = (const unsigned char *)path, .n = len, .memo = NULL};

    if (!g->branchy)
        return run_from(&r, 0, 0);

    /* Overflow is impossible in practice (len is a path), but be exact. */
    if (len + 1 > SIZE_MAX / g->len)
        return GLOB_ENOMEM;
    size_t cells = g->len * (len + 1);
    if (cells > g->memo_cap) {
        unsigned char *memo = realloc(g->memo, cells);
        if (memo == NULL)
            return GLOB_ENOMEM;
        g->memo = memo;
        g->memo_cap = cells;
    }
    memset(g->memo, 0, cells);
    r.memo = g->memo;
    return run_from(&r, 0, 0);
}

int glob_match(const char *pattern, const char *path)
{
    struct glob *g;
    int rc = glob_compile(pattern, &g);
    if (rc != 0)
        return rc;
    rc = glob_exec(g, path, strlen(path));
    glob_free(g);
    return rc;
}

int glob_valid(const char *pattern)
{
    struct glob *g;
    int rc = glob_compile(pattern, &g);
    if (rc == GLOB_ENOMEM)
        return rc;
    glob_free(g);
    return rc == 0;
}
