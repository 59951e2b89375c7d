/*
 * parsers._fastscan: the hot loop of the audit.log parser, in C.
 *
 * scan(head, data, start, end, final, prev_max_ts, window_ms[, flags]) makes ONE pass over
 * a buffer of complete lines: audit.log lines, or the kernel's renderings of the same
 * records in kern.log / syslog / dmesg / journalctl short output (kern_prefix: the record
 * is found behind a syslog date + host + "kernel:" tag, [uptime] and "audit: ", and the
 * host is taken from the prefix), and journalctl -o short's rendering of journald's audit
 * transport ("DATE HOST audit[PID]: AVC apparmor=…": short_line; no audit id, the time from
 * the syslog date, the year of an RFC 3164 date as the Python path infers it). It splits lines, parses the audit header, tokenises key=value bodies
 * of AppArmor (AVC, USER_AVC) and SELinux (avc: denied/granted) records, groups the
 * records of one event by (node, serial) and appends each MAC record's values to
 * per-column Arrow buffers (data + int32 offsets + validity bitmaps) that Python wraps
 * without copying (pa.Array.from_buffers). It implements exactly the rules of the
 * pure-Python reference (parsers/records.py, parsers/fields.py); anything it does not
 * handle with certainty -- other framings and prefixes, legacy formats, every line that
 * must be rejected -- it hands back as a "slow" line for the Python path, with the
 * newest audit time before it (RFC 3164 dates take their year from it).
 *
 * The interpreter lock is held throughout (the buffers are Python objects); the 2-core
 * path runs one process per core.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---------------------------------------------------------------- growable buffer */
typedef struct {
    char *p;
    size_t n, cap;
    size_t hint; /* the first capacity to allocate (the size of the buffer handed out) */
} Buf;

static int buf_grow(Buf *b, size_t extra) {
    size_t cap = b->cap ? b->cap : b->hint > 256 ? b->hint : 256;
    while (cap < b->n + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}
static inline int buf_reserve(Buf *b, size_t extra) {
    return b->n + extra <= b->cap ? 0 : buf_grow(b, extra);
}
static inline int buf_put(Buf *b, const void *src, size_t len) {
    if (len == 0) return 0; /* b->p may still be NULL: memcpy(NULL, _, 0) is UB */
    if (buf_reserve(b, len)) return -1;
    memcpy(b->p + b->n, src, len);
    b->n += len;
    return 0;
}
static void buf_free(Buf *b) { free(b->p); b->p = NULL; b->n = b->cap = 0; }

/* memmem for the short literal needles here: SSE2 compares of the needle's first and
 * last byte at 16 positions at a time, memcmp only where both match (glibc's generic
 * memmem cost ~1.4 instructions a byte on audit lines, ~5% of a whole parse) */
static inline const unsigned char *find_bytes(const void *hay, size_t n, const char *nd,
                                              size_t k) {
    const unsigned char *h = hay;
    if (k == 0) return h;
    if (n < k) return NULL;
    size_t last = n - k; /* the last position a match can start at */
    size_t i = 0;
#ifdef __SSE2__
    const __m128i f = _mm_set1_epi8((char)nd[0]), l = _mm_set1_epi8((char)nd[k - 1]);
    /* positions i..i+15, all <= last: the loads end at h[i + 15 + k - 1] <= h[n - 1] */
    for (; i + 15 <= last; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(h + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(h + i + k - 1));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(a, f), _mm_cmpeq_epi8(b, l)));
        while (m) {
            size_t j = i + (size_t)__builtin_ctz(m);
            if (memcmp(h + j + 1, nd + 1, k - 1) == 0) return h + j;
            m &= m - 1;
        }
    }
#endif
    for (; i <= last; i++)
        if (h[i] == (unsigned char)nd[0] && memcmp(h + i + 1, nd + 1, k - 1) == 0) return h + i;
    return NULL;
}

/* ------------------------------------------------------------------------ columns */
enum {
    S_APPARMOR, S_OPERATION, S_CLASS, S_PROFILE, S_LABEL, S_PEER, S_PEER_LABEL, S_NAME,
    S_NAME2, S_REQUESTED_MASK, S_DENIED_MASK, S_COMM, S_EXE, S_INFO, S_CAPNAME, S_FAMILY,
    S_SOCK_TYPE, S_PROTOCOL, S_ADDR, S_PEER_ADDR, S_LADDR, S_FADDR, S_SIGNAL, S_BUS, S_PATH,
    S_INTERFACE, S_MEMBER, S_FSTYPE, S_FLAGS, S_SRCNAME, S_NAMESPACE, S_EXECPATH,
    S_ATTRIBUTE, S_SCONTEXT, S_TCONTEXT, S_TCLASS, S_SERESULT, S_SYSCALL, S_CWD,
    S_PROCTITLE, S_HOST, S_RECORD_TYPE, S_RAW, S_NS, NSTR
};
static const char *STR_NAMES[NSTR] = {
    "apparmor", "operation", "class", "profile", "label", "peer", "peer_label", "name",
    "name2", "requested_mask", "denied_mask", "comm", "exe", "info", "capname", "family",
    "sock_type", "protocol", "addr", "peer_addr", "laddr", "faddr", "signal", "bus", "path",
    "interface", "member", "fstype", "flags", "srcname", "namespace", "execpath",
    "attribute", "scontext", "tcontext", "tclass", "seresult", "syscall", "cwd",
    "proctitle", "host", "record_type", "raw", "ns"};
/* columns that are dictionary<int32, string> in MAC_SCHEMA: encoded here, once per
 * distinct value, instead of copying every row's text */
static int is_dict_col(int k) {
    switch (k) {
    case S_NAME: case S_NAME2: case S_ADDR: case S_PEER_ADDR: case S_LADDR: case S_FADDR:
    case S_PATH: case S_FLAGS: case S_SRCNAME: case S_EXECPATH: case S_ATTRIBUTE: case S_CWD:
    case S_PROCTITLE: case S_RAW:
        return 0;
    default:
        return 1;
    }
}

enum {
    I_TS, I_SERIAL, I_PID, I_PEER_PID, I_FSUID, I_OUID, I_ERROR, I_CAPABILITY, I_LPORT,
    I_FPORT, I_PARENT, I_TASK, I_MAGIC_TOKEN, I_SENDER_PID, I_SENDER_UID, I_SENDER_AUID,
    I_UID, I_AUID, I_IOCTLCMD, I_PERMISSIVE, I_ORDINAL, I_USER, I_SELINUX, I_EVENT,
    I_MEMBER, NINT
};
static const char *INT_NAMES[NINT] = {
    "ts", "serial", "pid", "peer_pid", "fsuid", "ouid", "error", "capability", "lport",
    "fport", "parent", "task", "magic_token", "sender_pid", "sender_uid", "sender_auid",
    "uid", "auid", "ioctlcmd", "permissive", "ordinal", "_user", "_selinux", "_event",
    "_member"};
/* int32 columns: out-of-range values are null (as in the Python path) */
static int is_int32_col(int c) {
    return c == I_ERROR || c == I_CAPABILITY || c == I_LPORT || c == I_FPORT;
}

typedef struct {
    Buf data, offs, valid;
    /* dictionary columns: per-row int32 index into the distinct values (data/offs) */
    Buf idx;
    uint32_t *slots; /* open addressing: value index + 1, 0 = empty */
    size_t nslots;
    int64_t ndict;
} StrCol;
typedef struct {
    Buf vals, valid;
} IntCol;

typedef struct {
    StrCol s[NSTR];
    IntCol i[NINT];
    StrCol perm; /* perms: child strings */
    Buf perm_offs; /* perms: list offsets */
    Buf perm_valid;
    int64_t rows;
    int64_t perm_items;
} Cols;

/* Columns are filled lazily: a row writes only the columns it has values for, and the
 * gaps (null rows) are filled with zeros / repeated offsets when the next value comes or
 * at the end. A record sets a dozen of the ~70 columns, so most work is skipped. */
static int fill_zero(Buf *b, size_t need) {
    if (b->n >= need) return 0;
    if (buf_reserve(b, need - b->n)) return -1;
    memset(b->p + b->n, 0, need - b->n);
    b->n = need;
    return 0;
}
static inline int bit_on(Buf *v, int64_t idx) {
    if (fill_zero(v, (size_t)(idx >> 3) + 1)) return -1;
    v->p[idx >> 3] |= (char)(1 << (idx & 7));
    return 0;
}
static int fill_offs(Buf *offs, int64_t entries, int32_t end) {
    size_t need = (size_t)entries * 4;
    if (offs->n >= need) return 0;
    if (buf_reserve(offs, need - offs->n)) return -1;
    while (offs->n < need) {
        memcpy(offs->p + offs->n, &end, 4);
        offs->n += 4;
    }
    return 0;
}

/* ----------------------------------------------------------------- UTF-8 (Python's
 * decode("utf-8", "backslashreplace"): every byte of an invalid sequence -> \xNN)  */
static size_t utf8_valid_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        if (n >= 2 && (s[1] & 0xC0) == 0x80) return 2;
        return 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3) return 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80) return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4) return 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}
static const char HEXD[] = "0123456789abcdef";
static int put_text(Buf *b, const unsigned char *s, size_t n) {
    size_t i = 0, run = 0;
    /* fast path: eight ASCII bytes at a time */
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL) break;
        i += 8;
    }
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        size_t k = utf8_valid_len(s + i, n - i);
        if (k) { i += k; continue; }
        if (buf_put(b, s + run, i - run)) return -1;
        char esc[4] = {'\\', 'x', HEXD[s[i] >> 4], HEXD[s[i] & 15]};
        if (buf_put(b, esc, 4)) return -1;
        i++;
        run = i;
    }
    return buf_put(b, s + run, n - run);
}

/* ------------------------------------------------------------------ row values */
typedef struct {
    const unsigned char *p;
    size_t n;
    int set;
    int dec; /* p points into the row's scratch buffer (decoded hex) */
    size_t dec_off;
} SVal;
typedef struct {
    int64_t v;
    int set;
} IVal;
typedef struct {
    SVal s[NSTR];
    IVal i[NINT];
    const unsigned char *perms;
    size_t perms_n;
    int has_perms;
    Buf scratch;
} Row;

static void row_reset(Row *r) {
    for (int k = 0; k < NSTR; k++) r->s[k].set = 0;
    for (int k = 0; k < NINT; k++) r->i[k].set = 0;
    r->has_perms = 0;
    r->scratch.n = 0;
}

/* ------------------------------------------------------------------- key tables */
/* short keys: an inline byte loop beats a libc memcmp call */
static inline int eqn(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}
#define KEQ(k, n, lit) ((n) == sizeof(lit) - 1 && eqn((const char *)(k), (lit), (n)))

/* aa_key, se_key, hex_key: key -> column, generated from the Python tables */
#include "_fastscan_keys.h"

/* ------------------------------------------------------------------- tokeniser */
/* byte classes: WS = field separators; KEYSTOP = what ends a key (= space quote) */
static unsigned char WS[256], KEYSTOP[256];
static void init_classes(void) {
    const char *ws = " \t\n\r";
    for (const char *p = ws; *p; p++) WS[(unsigned char)*p] = KEYSTOP[(unsigned char)*p] = 1;
    KEYSTOP['='] = KEYSTOP['"'] = KEYSTOP['\''] = 1;
}
typedef struct {
    const char *k;
    size_t kn;
    const unsigned char *v;
    size_t vn;
    int quoted;
} Tok;

#define IS_WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

/* the first position from j on (before n) whose byte is in the class CLS (WS or
 * KEYSTOP), else n. SSE2: 16 bytes at a time, only bytes <= 0x20 (and, for KEYSTOP,
 * = " ') are looked up in the table (keys and values are mostly longer than a few bytes) */
static inline size_t skip_until(const unsigned char *s, size_t j, size_t n,
                                const unsigned char *cls) {
#ifdef __SSE2__
    const __m128i sp = _mm_set1_epi8(0x20), eq = _mm_set1_epi8('='), dq = _mm_set1_epi8('"'),
                  sq = _mm_set1_epi8('\'');
    int key = cls == KEYSTOP;
    for (; j + 16 <= n; j += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + j));
        __m128i c = _mm_cmpeq_epi8(_mm_min_epu8(x, sp), x); /* x <= 0x20 */
        if (key)
            c = _mm_or_si128(c, _mm_or_si128(_mm_cmpeq_epi8(x, eq),
                                             _mm_or_si128(_mm_cmpeq_epi8(x, dq),
                                                          _mm_cmpeq_epi8(x, sq))));
        unsigned m = (unsigned)_mm_movemask_epi8(c);
        while (m) {
            size_t k = j + (size_t)__builtin_ctz(m);
            if (cls[s[k]]) return k;
            m &= m - 1;
        }
    }
#endif
    while (j < n && !cls[s[j]]) j++;
    return j;
}

/* records.tokenize; returns number of tokens, sets *ok=0 on an unterminated quote,
 * -1 when more than cap tokens (caller takes the slow path). */
static int tokenize(const unsigned char *s, size_t n, Tok *out, int cap, int *ok) {
    size_t i = 0;
    int nt = 0;
    *ok = 1;
    while (i < n) {
        unsigned char c = s[i];
        if (IS_WS(c)) { i++; continue; }
        size_t j = i;
        long eq = -1;
        j = skip_until(s, j, n, KEYSTOP); /* the key: up to = / space / quote */
        if (j < n && s[j] == '=') eq = (long)j;
        if (eq < 0) {
            while (j < n && !IS_WS(s[j])) j++;
            i = j;
            continue;
        }
        if (nt >= cap) return -1;
        Tok *t = &out[nt++];
        t->k = (const char *)s + i;
        t->kn = (size_t)eq - i;
        size_t v = (size_t)eq + 1;
        if (v < n && (s[v] == '"' || s[v] == '\'')) {
            const unsigned char *end = memchr(s + v + 1, s[v], n - v - 1);
            t->quoted = 1;
            t->v = s + v + 1;
            if (!end) {
                t->vn = n - v - 1;
                *ok = 0;
                return nt;
            }
            t->vn = (size_t)(end - (s + v + 1));
            i = (size_t)(end - s) + 1;
        } else {
            size_t e = skip_until(s, v, n, WS);
            t->quoted = 0;
            t->v = s + v;
            t->vn = e - v;
            i = e;
        }
    }
    return nt;
}

/* ----------------------------------------------------------------- value rules */
/* upper-case hex digit value, -1 otherwise (the kernel writes upper case only) */
static signed char HEXV[256];
static void init_hexv(void) {
    memset(HEXV, -1, sizeof(HEXV));
    for (int c = '0'; c <= '9'; c++) HEXV[c] = (signed char)(c - '0');
    for (int c = 'A'; c <= 'F'; c++) HEXV[c] = (signed char)(c - 'A' + 10);
}
static inline int hexval(unsigned char c) { return HEXV[c]; }
static int all_upper_hex(const unsigned char *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (hexval(v[i]) < 0) return 0;
    return 1;
}
/* fields.is_bad_hex: upper-case hex of odd length, any length (name=2F657) */
static int is_bad_hex(const unsigned char *v, size_t n) {
    return (n % 2 == 1) && all_upper_hex(v, n);
}

/* fields.decode_value: set *out to the value, hex-decoded into scratch (out->dec set,
 * out->dec_off its offset there) where the kernel hex-encoded it */
static inline int decode_str(SVal *out, Buf *scratch, const char *k, size_t kn,
                             const unsigned char *v, size_t vn, int quoted) {
    out->set = 1;
    out->dec = 0;
    out->p = v;
    out->n = vn;
    if (!quoted && vn >= 2 && vn % 2 == 0 && hex_key(k, kn) && all_upper_hex(v, vn)) {
        size_t off = scratch->n;
        if (buf_reserve(scratch, vn / 2)) return -1;
        unsigned char *d = (unsigned char *)scratch->p + off;
        int esc = 0;
        for (size_t i = 0; i < vn; i += 2) {
            unsigned char b = (unsigned char)(hexval(v[i]) * 16 + hexval(v[i + 1]));
            d[i / 2] = b;
            if (b < 0x21 || b > 0x7E || b == 0x22) esc = 1;
        }
        if (esc) {
            scratch->n += vn / 2;
            out->dec = 1;
            out->dec_off = off;
            out->n = vn / 2;
        }
    }
    return 0;
}
static inline int set_str(Row *r, int col, const char *k, size_t kn, const unsigned char *v,
                          size_t vn, int quoted) {
    return decode_str(&r->s[col], &r->scratch, k, kn, v, vn, quoted);
}
static const unsigned char *sval_ptr(Row *r, int col) {
    SVal *sv = &r->s[col];
    return sv->dec ? (const unsigned char *)r->scratch.p + sv->dec_off : sv->p;
}

/* fields.to_int (int(value, 10)): [+-]?digits; 2 = not representable here (slow) */
static int parse_int(const unsigned char *v, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (n == 0) return 0;
    if (v[0] == '+' || v[0] == '-') { neg = v[0] == '-'; i = 1; }
    if (i >= n) return 0;
    uint64_t acc = 0;
    int big = 0;
    for (; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return 0;
        if (acc > (UINT64_MAX - 9) / 10) big = 1;
        else acc = acc * 10 + (uint64_t)(v[i] - '0');
    }
    if (big) { *out = 0; return 3; }
    if (!neg && acc > (uint64_t)INT64_MAX) { *out = 0; return 3; } /* out of range: null */
    if (neg && acc > (uint64_t)INT64_MAX + 1) { *out = 0; return 3; }
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 1;
}
/* set an int column from a value; returns -1 if the line must go the slow path */
static int set_int(Row *r, int col, const unsigned char *v, size_t n) {
    if (r->i[col].set) return 0;
    int64_t x;
    int rc = parse_int(v, n, &x);
    if (rc == 2) return -1;
    if (rc == 1) {
        if (is_int32_col(col) && (x < INT32_MIN || x > INT32_MAX)) return 0;
        r->i[col].v = x;
        r->i[col].set = 1;
    }
    return 0;
}

static int has_control(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] == 0x7F) return 1;
    return 0;
}

/* apparmor= as a key (records.has_aa: after the start, a quote or what bytes regexes call
 * \s, form feed and vertical tab included) */
static int has_aa(const unsigned char *s, size_t n) {
    const unsigned char *p = s, *end = s + n;
    while (p < end) {
        const unsigned char *m = find_bytes(p, (size_t)(end - p), "apparmor=", 9);
        if (!m) return 0;
        if (m == s || IS_WS(m[-1]) || m[-1] == '\f' || m[-1] == '\v' || m[-1] == '\'') return 1;
        p = m + 1;
    }
    return 0;
}

#define MAXTOK 96
enum { RC_OK = 0, RC_SLOW = 1, RC_NONE = 2 };

/* whether token t repeats the key of an earlier token: the kernel writes each key once,
 * so such a record goes to the Python path, which marks it suspect (records._note_key) */
static int dup_key(const Tok *toks, int t) {
    for (int u = 0; u < t; u++)
        if (toks[u].kn == toks[t].kn && memcmp(toks[u].k, toks[t].k, toks[t].kn) == 0) return 1;
    return 0;
}
/* a hex-decoded value holding NUL: no kernel path or label can (Python path marks it) */
static int decoded_nul(Row *r, int col) {
    SVal *sv = &r->s[col];
    return sv->dec && memchr(r->scratch.p + sv->dec_off, 0, sv->n) != NULL;
}

/* records._apparmor; RC_SLOW for anything the Python path must judge (rejects) */
static int do_apparmor(Row *r, const unsigned char *b, size_t n, int user) {
    Tok toks[MAXTOK];
    const unsigned char *sep = memchr(b, 0x1d, n);
    size_t bn = sep ? (size_t)(sep - b) : n;
    int ok;
    int nt = tokenize(b, bn, toks, MAXTOK, &ok);
    if (nt < 0 || !ok) return RC_SLOW;
    int none_seen = 0, int_miss = 0;
    for (int t = 0; t < nt; t++) {
        Tok *tk = &toks[t];
        int code = aa_key(tk->k, tk->kn);
        if (code == -1) continue;
        if (code >= 0) {
            if (r->s[code].set || none_seen) {
                if (dup_key(toks, t)) return RC_SLOW;
                if (r->s[code].set) continue;
            }
            if (!tk->quoted && hex_key(tk->k, tk->kn) && is_bad_hex(tk->v, tk->vn)) return RC_SLOW;
            if (!tk->quoted && tk->vn == 4 && memcmp(tk->v, "none", 4) == 0 &&
                (KEQ(tk->k, tk->kn, "addr") || KEQ(tk->k, tk->kn, "peer_addr"))) {
                none_seen = 1; /* unix socket without an address: nothing stored */
                continue;
            }
            if (set_str(r, code, tk->k, tk->kn, tk->v, tk->vn, tk->quoted)) return -1;
            if (decoded_nul(r, code)) return RC_SLOW;
            if (KEQ(tk->k, tk->kn, "label")) r->s[S_LABEL] = r->s[S_PROFILE];
        } else {
            /* a key repeated after a value that stored nothing (pid=x pid=1) is still a
             * repeat: the Python path marks it suspect */
            if ((r->i[-code - 2].set || int_miss) && dup_key(toks, t)) return RC_SLOW;
            if (set_int(r, -code - 2, tk->v, tk->vn)) return RC_SLOW;
            if (!r->i[-code - 2].set) int_miss = 1;
        }
    }
    /* event must be one of the known values */
    if (!r->s[S_APPARMOR].set) return RC_SLOW;
    {
        const unsigned char *a = sval_ptr(r, S_APPARMOR);
        size_t an = r->s[S_APPARMOR].n;
        static const char *ev[] = {"DENIED", "ALLOWED", "AUDIT", "STATUS", "HINT", "ERROR", "KILL", NULL};
        int known = 0;
        for (int i = 0; ev[i]; i++)
            if (strlen(ev[i]) == an && memcmp(ev[i], a, an) == 0) known = 1;
        if (!known) return RC_SLOW;
        int status = an == 6 && memcmp(a, "STATUS", 6) == 0;
        if (!r->s[S_OPERATION].set && !status) return RC_SLOW;
    }
    if (!user && !r->i[I_PID].set) return RC_SLOW;
    {
        int cols[] = {S_PROFILE, S_PEER_LABEL, S_PEER, S_NAMESPACE, S_NAME2};
        int ncols = 4;
        if (r->s[S_OPERATION].set && r->s[S_OPERATION].n == 6 &&
            memcmp(sval_ptr(r, S_OPERATION), "ptrace", 6) == 0)
            ncols = 5;
        for (int i = 0; i < ncols; i++)
            if (r->s[cols[i]].set && has_control(sval_ptr(r, cols[i]), r->s[cols[i]].n))
                return RC_SLOW;
    }
    return RC_OK;
}

/* the SELinux "avc: +(denied|granted) +\{[^}]*\} +for +" match; returns end or NULL */
static const unsigned char *se_match(const unsigned char *b, size_t n,
                                     const unsigned char **res, size_t *resn,
                                     const unsigned char **perms, size_t *permsn,
                                     const unsigned char **mstart) {
    const unsigned char *p = b, *end = b + n;
    while (p < end) {
        const unsigned char *m = find_bytes(p, (size_t)(end - p), "avc: ", 5);
        if (!m) return NULL;
        const unsigned char *q = m + 5;
        while (q < end && *q == ' ') q++;
        const unsigned char *rs = q;
        if (q + 6 <= end && memcmp(q, "denied", 6) == 0) q += 6;
        else if (q + 7 <= end && memcmp(q, "granted", 7) == 0) q += 7;
        else { p = m + 1; continue; }
        const unsigned char *re = q;
        if (q >= end || *q != ' ') { p = m + 1; continue; }
        while (q < end && *q == ' ') q++;
        if (q >= end || *q != '{') { p = m + 1; continue; }
        const unsigned char *ps = q + 1;
        const unsigned char *pe = memchr(ps, '}', (size_t)(end - ps));
        if (!pe) { p = m + 1; continue; }
        q = pe + 1;
        if (q >= end || *q != ' ') { p = m + 1; continue; }
        while (q < end && *q == ' ') q++;
        if (q + 3 > end || memcmp(q, "for", 3) != 0) { p = m + 1; continue; }
        q += 3;
        if (q >= end || *q != ' ') { p = m + 1; continue; }
        while (q < end && *q == ' ') q++;
        *res = rs; *resn = (size_t)(re - rs);
        *perms = ps; *permsn = (size_t)(pe - ps);
        *mstart = m;
        return q;
    }
    return NULL;
}

/* records._selinux */
static int do_selinux(Row *r, const unsigned char *b, size_t n,
                      const unsigned char *res, size_t resn,
                      const unsigned char *perms, size_t permsn) {
    Tok toks[MAXTOK];
    const unsigned char *sep = memchr(b, 0x1d, n);
    size_t bn = sep ? (size_t)(sep - b) : n;
    int ok;
    int nt = tokenize(b, bn, toks, MAXTOK, &ok);
    if (nt < 0 || !ok) return RC_SLOW;
    r->i[I_SELINUX].v = 1; r->i[I_SELINUX].set = 1;
    r->s[S_SERESULT].set = 1; r->s[S_SERESULT].dec = 0;
    r->s[S_SERESULT].p = res; r->s[S_SERESULT].n = resn;
    for (size_t i = 0; i < permsn; i++)
        if (perms[i] == 0x0b || perms[i] == 0x0c) return RC_SLOW; /* exotic whitespace */
    r->perms = perms; r->perms_n = permsn; r->has_perms = 1;
    int int_miss = 0;
    for (int t = 0; t < nt; t++) {
        Tok *tk = &toks[t];
        int code = se_key(tk->k, tk->kn);
        if (code >= 0) {
            if (r->s[code].set) {
                if (dup_key(toks, t)) return RC_SLOW;
                continue;
            }
            if (!tk->quoted && hex_key(tk->k, tk->kn) && is_bad_hex(tk->v, tk->vn)) return RC_SLOW;
            if (set_str(r, code, tk->k, tk->kn, tk->v, tk->vn, tk->quoted)) return -1;
            if (decoded_nul(r, code)) return RC_SLOW;
        } else if (code <= -2) {
            if ((r->i[-code - 2].set || int_miss) && dup_key(toks, t)) return RC_SLOW;
            if (set_int(r, -code - 2, tk->v, tk->vn)) return RC_SLOW;
            if (!r->i[-code - 2].set) int_miss = 1;
        } else if (KEQ(tk->k, tk->kn, "permissive")) {
            if (!r->i[I_PERMISSIVE].set) {
                r->i[I_PERMISSIVE].set = 1;
                r->i[I_PERMISSIVE].v = tk->vn == 1 && tk->v[0] == '1';
            }
        } else if (KEQ(tk->k, tk->kn, "ioctlcmd")) {
            if (!r->i[I_IOCTLCMD].set) {
                /* int(value, 0): 0x-hex or decimal without a leading zero */
                const unsigned char *v = tk->v;
                size_t vn = tk->vn;
                if (vn > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
                    uint64_t acc = 0;
                    for (size_t i = 2; i < vn; i++) {
                        int h;
                        unsigned char c = v[i];
                        if (c >= '0' && c <= '9') h = c - '0';
                        else if (c >= 'a' && c <= 'f') h = c - 'a' + 10;
                        else if (c >= 'A' && c <= 'F') h = c - 'A' + 10;
                        else return RC_SLOW;
                        if (acc >> 59) return RC_SLOW;
                        acc = acc * 16 + (uint64_t)h;
                    }
                    r->i[I_IOCTLCMD].v = (int64_t)acc; r->i[I_IOCTLCMD].set = 1;
                } else {
                    int alpha = 1;
                    for (size_t i = 0; i < vn; i++)
                        if ((v[i] >= '0' && v[i] <= '9') || v[i] == '_' || v[i] == '+' || v[i] == '-') alpha = 0;
                    if (!alpha) return RC_SLOW; /* numbers in other spellings: Python decides */
                }
            }
        }
    }
    if (!r->s[S_SCONTEXT].set || !r->s[S_TCLASS].set) return RC_SLOW;
    return RC_OK;
}


/* ------------------------------------------------------------------ enrichment */
typedef struct {
    SVal syscall, exe, cwd, proctitle; /* dec: offset into the scan's enrichment scratch */
    IVal uid, auid;
    int uid_seen, auid_seen, syscall_seen, exe_seen, cwd_seen, pt_seen;
} Enrich;

static const unsigned char *eptr(const SVal *v, const Buf *escr) {
    return v->dec ? (const unsigned char *)escr->p + v->dec_off : v->p;
}

/* fields.decode_proctitle */
static int enrich_proctitle(SVal *out, Buf *escr, const unsigned char *v, size_t vn, int quoted) {
    size_t off = escr->n;
    if (buf_reserve(escr, vn + 1)) return -1;
    unsigned char *d = (unsigned char *)escr->p + off;
    size_t m;
    if (!quoted && vn >= 2 && vn % 2 == 0 && all_upper_hex(v, vn)) {
        m = vn / 2;
        for (size_t i = 0; i < vn; i += 2)
            d[i / 2] = (unsigned char)(hexval(v[i]) * 16 + hexval(v[i + 1]));
    } else {
        m = vn;
        memcpy(d, v, vn);
    }
    while (m > 0 && d[m - 1] == 0) m--;
    for (size_t i = 0; i < m; i++)
        if (d[i] == 0) d[i] = ' ';
    escr->n += m;
    out->set = 1;
    out->dec = 1;
    out->dec_off = off;
    out->n = m;
    return 0;
}

/* records._aux for SYSCALL / CWD / PROCTITLE, merged first-wins into the event */
static int aux_fields(Enrich *e, Buf *escr, int kind, const unsigned char *b, size_t n) {
    Tok toks[MAXTOK];
    const unsigned char *sep = memchr(b, 0x1d, n);
    size_t bn = sep ? (size_t)(sep - b) : n;
    int ok;
    int nt = tokenize(b, bn, toks, MAXTOK, &ok);
    if (nt < 0) nt = MAXTOK;
    if (kind == 1) { /* SYSCALL: this record's own values, then merged first-wins */
        SVal sc = {0}, exe = {0};
        IVal uid = {0}, auid = {0};
        int sc_seen = 0, exe_seen = 0, uid_seen = 0, auid_seen = 0;
        for (int t = 0; t < nt; t++) {
            Tok *tk = &toks[t];
            if (!sc_seen && KEQ(tk->k, tk->kn, "syscall")) {
                sc_seen = 1;
                sc.set = 1; sc.dec = 0; sc.p = tk->v; sc.n = tk->vn;
            } else if (!exe_seen && KEQ(tk->k, tk->kn, "exe")) {
                exe_seen = 1;
                if (decode_str(&exe, escr, tk->k, tk->kn, tk->v, tk->vn, tk->quoted)) return -1;
            } else if (!uid_seen && KEQ(tk->k, tk->kn, "uid")) {
                uid_seen = 1;
                int64_t x;
                if (parse_int(tk->v, tk->vn, &x) == 1) { uid.v = x; uid.set = 1; }
            } else if (!auid_seen && KEQ(tk->k, tk->kn, "auid")) {
                auid_seen = 1;
                int64_t x;
                if (parse_int(tk->v, tk->vn, &x) == 1) { auid.v = x; auid.set = 1; }
            }
        }
        if (sep) { /* ENRICHED: SYSCALL=name replaces the number (last one wins) */
            Tok tt[MAXTOK];
            int ok2;
            int nt2 = tokenize(sep + 1, n - bn - 1, tt, MAXTOK, &ok2);
            if (nt2 < 0) nt2 = MAXTOK;
            for (int t = 0; t < nt2; t++)
                if (KEQ(tt[t].k, tt[t].kn, "SYSCALL")) {
                    sc.set = 1; sc.dec = 0; sc.p = tt[t].v; sc.n = tt[t].vn;
                }
        }
        if (sc.set && !e->syscall.set) e->syscall = sc;
        if (exe.set && !e->exe.set) e->exe = exe;
        if (uid.set && !e->uid.set) e->uid = uid;
        if (auid.set && !e->auid.set) e->auid = auid;
    } else if (kind == 2) { /* CWD */
        for (int t = 0; t < nt; t++)
            if (KEQ(toks[t].k, toks[t].kn, "cwd")) {
                if (!e->cwd.set &&
                    decode_str(&e->cwd, escr, toks[t].k, toks[t].kn, toks[t].v, toks[t].vn, toks[t].quoted))
                    return -1;
                break;
            }
    } else if (kind == 3) { /* PROCTITLE */
        for (int t = 0; t < nt; t++)
            if (KEQ(toks[t].k, toks[t].kn, "proctitle")) {
                if (!e->proctitle.set && enrich_proctitle(&e->proctitle, escr, toks[t].v, toks[t].vn, toks[t].quoted))
                    return -1;
                break;
            }
    }
    return 0;
}

/* ---------------------------------------------------------------- header parse */
typedef struct {
    const unsigned char *node;
    size_t node_n;
    const unsigned char *type;
    size_t type_n;
    int64_t ts;
    uint64_t serial;
    const unsigned char *body;
    size_t body_n;
} Hdr;

static int parse_digits(const unsigned char **pp, const unsigned char *end, uint64_t *out, int maxd) {
    const unsigned char *p = *pp;
    uint64_t acc = 0;
    int d = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (d >= maxd) return 99;
        acc = acc * 10 + (uint64_t)(*p - '0');
        p++;
        d++;
    }
    if (d == 0) return -1;
    *out = acc;
    *pp = p;
    return d;
}

#define IS_PYSPACE(c) (IS_WS(c) || (c) == '\f' || (c) == '\v')

/* records._AUDIT_HDR matched at the line start: 1 ok, 0 no header, -1 header the
 * Python path must judge */
static int parse_header(const unsigned char *s, size_t n, Hdr *h) {
    const unsigned char *p = s, *end = s + n;
    h->node = NULL;
    h->node_n = 0;
    if (n > 5 && (memcmp(p, "node=", 5) == 0 || memcmp(p, "host=", 5) == 0)) {
        const unsigned char *q = p + 5, *ns = q;
        while (q < end && !IS_PYSPACE(*q)) q++;
        if (q > ns && q < end && *q == ' ') {
            h->node = ns;
            h->node_n = (size_t)(q - ns);
            while (q < end && *q == ' ') q++;
            p = q;
        }
    }
    if (end - p < 5 || memcmp(p, "type=", 5) != 0) return 0;
    p += 5;
    h->type = p;
    while (p < end && ((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_')) p++;
    if (p == h->type) return 0;
    if (p < end && *p == '[') {
        const unsigned char *q = p + 1;
        while (q < end && *q >= '0' && *q <= '9') q++;
        if (q == p + 1 || q >= end || *q != ']') return 0;
        p = q + 1;
    }
    h->type_n = (size_t)(p - h->type);
    if (p >= end || *p != ' ') return 0;
    while (p < end && *p == ' ') p++;
    if (end - p >= 4 && memcmp(p, "msg=", 4) == 0) p += 4;
    if (end - p < 6 || memcmp(p, "audit(", 6) != 0) return 0;
    p += 6;
    uint64_t sec, ms, serial;
    int d = parse_digits(&p, end, &sec, 19);
    if (d < 0) return 0;
    if (d > 11) return -1;
    if (p >= end || *p != '.') return 0;
    p++;
    if (parse_digits(&p, end, &ms, 3) != 3) return 0;
    if (p < end && *p >= '0' && *p <= '9') return 0;
    if (p >= end || *p != ':') return 0;
    p++;
    d = parse_digits(&p, end, &serial, 19);
    if (d < 0) return 0;
    if (d > 19 || serial > (uint64_t)INT64_MAX) return -1;
    if (end - p < 2 || p[0] != ')' || p[1] != ':') return 0;
    p += 2;
    if (p < end && *p == ' ') p++;
    h->ts = (int64_t)(sec * 1000 + ms);
    h->serial = serial;
    h->body = p;
    h->body_n = (size_t)(end - p);
    return 1;
}

/* ------------------------------------------------------------- kernel-log prefixes */
/* The kernel's own renderings of an audit record in kern.log / syslog / dmesg / journalctl
 * short output, in the order records._classify reads them:
 *   [<L>] [DATE HOST kernel: | kernel: ] [[ uptime] ] [audit: ] type=…|node=…|host=…
 * DATE: RFC 3164 "Mmm dd hh:mm:ss[.frac][tz] " or ISO 8601 "yyyy-mm-dd[T ]hh:mm:ss[.frac][tz] ".
 * Only this strict subset is read here; for it, the Python regexes (_PRI, _RFC3164/_ISO
 * with _HOST_TAG, _BARE_TAG, _DMESG) match the same way on their first attempt, so both
 * engines see the same host and tag. Any other shape is judged by the Python path.
 * Returns 1 with off at the record, host + host_n the syslog host (NULL: none) and
 * framed set when a "kernel:" tag was read; 0 when the line has none of these shapes. */
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
static const unsigned char *digits(const unsigned char *p, const unsigned char *end, int n) {
    for (int i = 0; i < n; i++, p++)
        if (p >= end || !IS_DIGIT(*p)) return NULL;
    return p;
}
/* hh:mm:ss(\.\d+)?(Z|[+-]\d\d:?\d\d)? +  -> after the spaces, or NULL */
static const unsigned char *clock_tail(const unsigned char *p, const unsigned char *end) {
    if (!(p = digits(p, end, 2)) || p >= end || *p++ != ':') return NULL;
    if (!(p = digits(p, end, 2)) || p >= end || *p++ != ':') return NULL;
    if (!(p = digits(p, end, 2))) return NULL;
    if (p < end && *p == '.') {
        const unsigned char *q = p + 1;
        while (q < end && IS_DIGIT(*q)) q++;
        if (q == p + 1) return NULL;
        p = q;
    }
    if (p < end && *p == 'Z') p++;
    else if (p < end && (*p == '+' || *p == '-')) {
        if (!(p = digits(p + 1, end, 2))) return NULL;
        if (p < end && *p == ':') p++;
        if (!(p = digits(p, end, 2))) return NULL;
    }
    if (p >= end || *p != ' ') return NULL;
    while (p < end && *p == ' ') p++;
    return p;
}
static int kern_prefix(const unsigned char *s, size_t n, size_t *off, const unsigned char **host,
                       size_t *host_n, int *framed) {
    const unsigned char *p = s, *end = s + n;
    *host = NULL;
    *host_n = 0;
    *framed = 0;
    if (p < end && *p == '<') { /* printk level: facility 0 only (>= 8 is user space) */
        const unsigned char *q = p + 1;
        int v = 0, d = 0;
        while (q < end && IS_DIGIT(*q) && d < 4) { v = v * 10 + (*q - '0'); q++; d++; }
        if (d == 0 || d > 3 || q >= end || *q != '>' || v >= 8) return 0;
        p = q + 1;
    }
    const unsigned char *t = NULL; /* after the date */
    if (end - p >= 4 && p[0] >= 'A' && p[0] <= 'Z' && p[1] >= 'a' && p[1] <= 'z' &&
        p[2] >= 'a' && p[2] <= 'z' && p[3] == ' ') {
        const unsigned char *q = p + 3;
        while (q < end && *q == ' ') q++;
        const unsigned char *d = q;
        while (q < end && IS_DIGIT(*q) && q - d < 3) q++;
        if (q - d >= 1 && q - d <= 2 && q < end && *q == ' ') t = clock_tail(q + 1, end);
        if (!t) return 0;
    } else if (end - p >= 11 && IS_DIGIT(p[0])) {
        const unsigned char *q = digits(p, end, 4);
        if (!q || q >= end || *q != '-' || !(q = digits(q + 1, end, 2)) || q >= end || *q != '-' ||
            !(q = digits(q + 1, end, 2)) || q >= end || (*q != 'T' && *q != ' '))
            return 0;
        if (!(t = clock_tail(q + 1, end))) return 0;
    }
    if (t) { /* HOST +kernel: (the host is \S+, the tag exactly "kernel") */
        const unsigned char *h = t;
        while (t < end && !IS_PYSPACE(*t)) t++;
        if (t == h || t >= end || *t != ' ') return 0;
        *host = h;
        *host_n = (size_t)(t - h);
        while (t < end && *t == ' ') t++;
        if (end - t < 8 || memcmp(t, "kernel: ", 8) != 0) return 0;
        p = t + 8;
        *framed = 1;
    } else if (end - p >= 8 && memcmp(p, "kernel: ", 8) == 0) {
        p += 8;
        *framed = 1;
    }
    if (p < end && *p == '[') { /* [ *\d+\.\d+] */
        const unsigned char *q = p + 1;
        while (q < end && *q == ' ') q++;
        const unsigned char *d = q;
        while (q < end && IS_DIGIT(*q)) q++;
        if (q == d || q >= end || *q != '.') return 0;
        d = ++q;
        while (q < end && IS_DIGIT(*q)) q++;
        if (q == d || end - q < 2 || q[0] != ']' || q[1] != ' ') return 0;
        p = q + 2;
    }
    if (end - p >= 7 && memcmp(p, "audit: ", 7) == 0) p += 7;
    if (p == s || end - p < 5 ||
        (memcmp(p, "type=", 5) != 0 && memcmp(p, "node=", 5) != 0 && memcmp(p, "host=", 5) != 0))
        return 0;
    *off = (size_t)(p - s);
    return 1;
}

/* --------------------------------------------- journalctl -o short: audit transport */
/* journald's audit transport as `journalctl -o short` prints it (records._record with the
 * tag "audit"): no audit(…) header, the time is the syslog date's, no serial:
 *   DATE HOST audit[PID]: TYPE body      DATE HOST audit: TYPE body
 * DATE as in kern_prefix (RFC 3164 takes the stream's year, ISO 8601 its own); TYPE is
 * records._BARE_TYPE ([A-Z][A-Z_]+ then one space). As for kern_prefix, the Python
 * regexes (_RFC3164/_ISO with _HOST_TAG, then _BARE_TYPE) read this strict subset the same
 * way on their first attempt. A date calendar.timegm would refuse (an ISO month 00 or 13,
 * year 0000) or a month name _MON does not know (read as January there) is not this shape:
 * such a line stays the Python path's. */
typedef struct {
    int iso;             /* ISO 8601: the year is the line's */
    int64_t y;
    int mo, day, h, mi, s, ms;
    int64_t tz_s;        /* records._tz_offset_s */
} SDate;

/* hh:mm:ss(\.\d+)?(Z|[+-]\d\d:?\d\d)? +  with its values (clock_tail's shape) */
static const unsigned char *clock_vals(const unsigned char *p, const unsigned char *end, SDate *d) {
    const unsigned char *q = clock_tail(p, end);
    if (!q) return NULL;
    d->h = (p[0] - '0') * 10 + (p[1] - '0');
    d->mi = (p[3] - '0') * 10 + (p[4] - '0');
    d->s = (p[6] - '0') * 10 + (p[7] - '0');
    p += 8;
    d->ms = 0;
    if (*p == '.') { /* records._frac_ms: the first three digits, padded with zeros */
        p++;
        int k = 0;
        for (; p < end && IS_DIGIT(*p); p++, k++)
            if (k < 3) d->ms = d->ms * 10 + (*p - '0');
        for (; k < 3; k++) d->ms *= 10;
    }
    d->tz_s = 0;
    if (*p == '+' || *p == '-') {
        int64_t sign = *p == '-' ? -1 : 1;
        int hh = (p[1] - '0') * 10 + (p[2] - '0');
        p += 3;
        if (*p == ':') p++;
        int mm = (p[0] - '0') * 10 + (p[1] - '0');
        d->tz_s = sign * (hh * 3600 + mm * 60);
    }
    return q;
}

static const unsigned char *syslog_date(const unsigned char *p, const unsigned char *end, SDate *d) {
    static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (end - p >= 4 && p[0] >= 'A' && p[0] <= 'Z' && p[1] >= 'a' && p[1] <= 'z' &&
        p[2] >= 'a' && p[2] <= 'z' && p[3] == ' ') {
        d->iso = 0;
        d->mo = 0;
        for (int m = 0; m < 12; m++)
            if (memcmp(p, MONTHS + 3 * m, 3) == 0) d->mo = m + 1;
        if (!d->mo) return NULL;
        const unsigned char *q = p + 3;
        while (q < end && *q == ' ') q++;
        const unsigned char *ds = q;
        while (q < end && IS_DIGIT(*q) && q - ds < 3) q++;
        if (q - ds < 1 || q - ds > 2 || q >= end || *q != ' ') return NULL;
        d->day = q - ds == 1 ? ds[0] - '0' : (ds[0] - '0') * 10 + (ds[1] - '0');
        return clock_vals(q + 1, end, d);
    }
    if (end - p >= 11 && IS_DIGIT(p[0])) {
        const unsigned char *q = digits(p, end, 4);
        if (!q || q >= end || *q != '-' || !(q = digits(q + 1, end, 2)) || q >= end || *q != '-' ||
            !(q = digits(q + 1, end, 2)) || q >= end || (*q != 'T' && *q != ' '))
            return NULL;
        d->iso = 1;
        d->y = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
        d->mo = (p[5] - '0') * 10 + (p[6] - '0');
        d->day = (p[8] - '0') * 10 + (p[9] - '0');
        if (d->y < 1 || d->mo < 1 || d->mo > 12) return NULL; /* timegm: ValueError */
        return clock_vals(q + 1, end, d);
    }
    return NULL;
}

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil) */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* time.gmtime(ts // 1000).tm_year */
static int64_t year_of_ms(int64_t ts) {
    int64_t secs = ts >= 0 ? ts / 1000 : -((-ts + 999) / 1000);
    int64_t z = (secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400)) + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

/* records.syslog_ts: calendar.timegm of the date (the day, hour, minute and second
 * added as they are, unchecked), less the zone, plus the fraction's milliseconds */
static int64_t date_ms(const SDate *d, int64_t year) {
    int64_t y = d->iso ? d->y : year;
    int64_t days = days_from_civil(y, d->mo, 1) + d->day - 1;
    int64_t secs = days * 86400 + d->h * 3600 + d->mi * 60 + d->s;
    return (secs - d->tz_s) * 1000 + d->ms;
}

/* 1 with the host, the record type and the body (after TYPE and one space) of a
 * journal-short audit line, else 0 */
static int short_prefix(const unsigned char *s, size_t n, SDate *d, const unsigned char **host,
                        size_t *host_n, const unsigned char **type, size_t *type_n,
                        const unsigned char **body, size_t *body_n) {
    const unsigned char *end = s + n, *t = syslog_date(s, end, d);
    if (!t) return 0;
    const unsigned char *h = t;
    while (t < end && !IS_PYSPACE(*t)) t++;
    if (t == h || t >= end || *t != ' ') return 0;
    *host = h;
    *host_n = (size_t)(t - h);
    while (t < end && *t == ' ') t++;
    if (end - t < 7 || memcmp(t, "audit", 5) != 0) return 0;
    t += 5;
    if (*t == '[') { /* (?:\[\d+\])? */
        const unsigned char *q = t + 1;
        while (q < end && IS_DIGIT(*q)) q++;
        if (q == t + 1 || q >= end || *q != ']') return 0;
        t = q + 1;
    }
    if (end - t < 2 || t[0] != ':' || t[1] != ' ') return 0;
    t += 2;
    const unsigned char *ty = t;
    if (t >= end || *t < 'A' || *t > 'Z') return 0;
    t++;
    while (t < end && ((*t >= 'A' && *t <= 'Z') || *t == '_')) t++;
    if (t - ty < 2 || t >= end || *t != ' ') return 0;
    *type = ty;
    *type_n = (size_t)(t - ty);
    *body = t + 1;
    *body_n = (size_t)(end - (t + 1));
    return 1;
}

enum { T_OTHER, T_AVC, T_USER_AVC, T_SYSCALL, T_CWD, T_PROCTITLE, T_EOE, T_PATH };

/* records.TYPE_NAMES for the types the scanner handles; UNKNOWN[n] as n */
static int type_code(const Hdr *h) {
    const char *t = (const char *)h->type;
    size_t n = h->type_n;
    if (n > 9 && KEQ(t, 8, "UNKNOWN[") && t[n - 1] == ']') {
        t += 8;
        n -= 9;
    }
    switch (n) {
    case 3:
        if (KEQ(t, n, "AVC")) return T_AVC;
        if (KEQ(t, n, "CWD")) return T_CWD;
        if (KEQ(t, n, "EOE")) return T_EOE;
        break;
    case 4:
        if (KEQ(t, n, "PATH")) return T_PATH;
        if (KEQ(t, n, "1400")) return T_AVC;
        if (KEQ(t, n, "1107")) return T_USER_AVC;
        if (KEQ(t, n, "1300")) return T_SYSCALL;
        if (KEQ(t, n, "1307")) return T_CWD;
        if (KEQ(t, n, "1327")) return T_PROCTITLE;
        if (KEQ(t, n, "1320")) return T_EOE;
        if (KEQ(t, n, "1302")) return T_PATH;
        break;
    case 7:
        if (KEQ(t, n, "SYSCALL")) return T_SYSCALL;
        break;
    case 8:
        if (KEQ(t, n, "USER_AVC")) return T_USER_AVC;
        break;
    case 9:
        if (KEQ(t, n, "PROCTITLE")) return T_PROCTITLE;
        break;
    }
    return T_OTHER;
}

/* ------------------------------------------------------------------- events */
typedef struct {
    const unsigned char *node;
    size_t node_n;
    uint64_t serial;
    int64_t ts;
    int64_t first_line;
    int64_t first_mac_line;
    int term, single, members, has_slow, complete, closed;
    int64_t en; /* index into the enrichment table, -1 = none yet */
} Event;

/* K_DONE: a journal-short line whose row pass 1 already appended (no event) */
enum { K_IGNORE = 0, K_MAC = 1, K_SLOW = 2, K_AUX = 3, K_MAC_SE = 4, K_DONE = 5 };

/* enrichment of the events that have a MAC record, kept apart so Event stays small */
static struct {
    Enrich *v;
    size_t n, cap;
} ENR;

typedef struct {
    size_t start, len; /* logical offset, length */
    const unsigned char *ptr;
    int kind;
    int user;        /* USER_AVC */
    int64_t event;   /* -1: none */
    int member;
    int64_t ts;
    const unsigned char *body; /* MAC: the (inner) body to parse */
    size_t body_n;
    int64_t sender[3];
    int sender_set[3];
    const unsigned char *exe; /* USER_AVC: exe= of libaudit's trailer */
    size_t exe_n;
    int exe_quoted, has_exe;
    int aux; /* 1 SYSCALL, 2 CWD, 3 PROCTITLE, 4 EOE */
    int hdr;    /* an audit header was read (behind a kernel-log prefix or not) */
    int framed; /* behind a syslog "kernel:" tag (Parser kernel_tag applies) */
    Hdr h;
} LineInfo;

static uint64_t hash_key(const unsigned char *node, size_t nn, uint64_t serial) {
    uint64_t h = 1469598103934665603ULL ^ (serial * 0x9E3779B97F4A7C15ULL);
    for (size_t i = 0; i < nn; i++) h = (h ^ node[i]) * 1099511628211ULL;
    return h ^ (h >> 31);
}

typedef struct {
    Event *ev;
    size_t n, cap;
    int64_t *slots;
    size_t nslots;
} Events;

/* The open event of (node, serial), or a new one. As in the Python path an event is
 * over once closed (terminator, USER_AVC) or once the stream moved `window` ms past it
 * (checked against the maximum time before this line); a later record of the same id
 * starts a new event. */
static int64_t event_get(Events *E, const unsigned char *node, size_t nn, uint64_t serial,
                         int64_t ts, int64_t line, int64_t max_before, int64_t window) {
    if (E->n * 2 + 2 > E->nslots) {
        size_t ns = E->nslots ? E->nslots * 2 : 1024;
        int64_t *slots = malloc(ns * sizeof(int64_t));
        if (!slots) return -2;
        for (size_t i = 0; i < ns; i++) slots[i] = -1;
        for (size_t i = 0; i < E->n; i++) {
            uint64_t h = hash_key(E->ev[i].node, E->ev[i].node_n, E->ev[i].serial) & (ns - 1);
            while (slots[h] >= 0) h = (h + 1) & (ns - 1);
            slots[h] = (int64_t)i;
        }
        free(E->slots);
        E->slots = slots;
        E->nslots = ns;
    }
    uint64_t h = hash_key(node, nn, serial) & (E->nslots - 1);
    while (E->slots[h] >= 0) {
        Event *e = &E->ev[E->slots[h]];
        if (e->serial == serial && e->node_n == nn && (nn == 0 || memcmp(e->node, node, nn) == 0)) {
            if (!e->closed && e->ts < max_before - window) e->closed = 1;
            if (!e->closed) return E->slots[h];
            break; /* reuse this slot for the new event */
        }
        h = (h + 1) & (E->nslots - 1);
    }
    if (E->n == E->cap) {
        size_t cap = E->cap ? E->cap * 2 : 1024;
        Event *ev = realloc(E->ev, cap * sizeof(Event));
        if (!ev) return -2;
        E->ev = ev;
        E->cap = cap;
    }
    Event *e = &E->ev[E->n];
    memset(e, 0, sizeof(Event));
    e->node = node;
    e->node_n = nn;
    e->serial = serial;
    e->ts = ts;
    e->first_line = line;
    e->first_mac_line = -1;
    e->en = -1;
    E->slots[h] = (int64_t)E->n;
    return (int64_t)E->n++;
}

/* -------------------------------------------------------------- row appending */
static Buf dict_tmp;

/* eight bytes per step (values are short: profile names, masks, comm) */
static uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, p + i, n - i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 32);
}

static int is_ascii(const unsigned char *p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL) return 0;
    }
    for (; i < n; i++)
        if (p[i] & 0x80) return 0;
    return 1;
}

static int dict_grow(StrCol *sc) {
    size_t ns = sc->nslots ? sc->nslots * 2 : 64;
    uint32_t *slots = calloc(ns, sizeof(uint32_t));
    if (!slots) return -1;
    const int32_t *offs = (const int32_t *)sc->offs.p;
    for (int64_t i = 0; i < sc->ndict; i++) {
        uint64_t h = hash_bytes((const unsigned char *)sc->data.p + offs[i], (size_t)(offs[i + 1] - offs[i])) & (ns - 1);
        while (slots[h]) h = (h + 1) & (ns - 1);
        slots[h] = (uint32_t)i + 1;
    }
    free(sc->slots);
    sc->slots = slots;
    sc->nslots = ns;
    return 0;
}

static int append_dict(StrCol *sc, int64_t row, const unsigned char *p, size_t n) {
    int32_t index = 0;
    const unsigned char *t = p;
    size_t tn = n;
    if (!is_ascii(p, n)) { /* the text as it will be stored (\xNN escapes) is the key */
        dict_tmp.n = 0;
        if (put_text(&dict_tmp, p, n)) return -1;
        t = (const unsigned char *)dict_tmp.p;
        tn = dict_tmp.n;
    }
    if (sc->ndict == 0 && sc->offs.n == 0) {
        int32_t z = 0;
        if (buf_put(&sc->offs, &z, 4)) return -1;
    }
    if ((size_t)(sc->ndict + 1) * 2 > sc->nslots && dict_grow(sc)) return -1;
    uint64_t h = hash_bytes(t, tn) & (sc->nslots - 1);
    const int32_t *offs = (const int32_t *)sc->offs.p;
    for (;;) {
        uint32_t v = sc->slots[h];
        if (!v) {
            if (buf_put(&sc->data, t, tn)) return -1;
            if (sc->data.n > (size_t)INT32_MAX) return -1;
            int32_t o = (int32_t)sc->data.n;
            if (buf_put(&sc->offs, &o, 4)) return -1;
            index = (int32_t)sc->ndict++;
            sc->slots[h] = (uint32_t)index + 1;
            break;
        }
        int32_t a = offs[v - 1], b = offs[v];
        if ((size_t)(b - a) == tn && memcmp(sc->data.p + a, t, tn) == 0) {
            index = (int32_t)(v - 1);
            break;
        }
        h = (h + 1) & (sc->nslots - 1);
    }
    if (fill_zero(&sc->idx, (size_t)row * 4) || buf_put(&sc->idx, &index, 4)) return -1;
    return bit_on(&sc->valid, row);
}

static int append_str(StrCol *sc, int64_t idx, const unsigned char *p, size_t n, int raw) {
    if (fill_offs(&sc->offs, idx + 1, (int32_t)sc->data.n)) return -1;
    if (raw ? buf_put(&sc->data, p, n) : put_text(&sc->data, p, n)) return -1;
    if (sc->data.n > (size_t)INT32_MAX) return -1;
    int32_t o = (int32_t)sc->data.n;
    if (buf_put(&sc->offs, &o, 4)) return -1;
    return bit_on(&sc->valid, idx);
}

/* complete every column to `rows` rows (the trailing nulls) */
static int cols_finish(Cols *c) {
    int64_t rows = c->rows;
    size_t vbytes = (size_t)((rows + 7) >> 3);
    for (int k = 0; k < NSTR; k++) {
        StrCol *sc = &c->s[k];
        if (is_dict_col(k)) {
            if (fill_zero(&sc->idx, (size_t)rows * 4)) return -1;
        } else if (fill_offs(&sc->offs, rows + 1, (int32_t)sc->data.n)) {
            return -1;
        }
        if (fill_zero(&sc->valid, vbytes)) return -1;
    }
    for (int k = 0; k < NINT; k++)
        if (fill_zero(&c->i[k].vals, (size_t)rows * 8) || fill_zero(&c->i[k].valid, vbytes)) return -1;
    if (fill_offs(&c->perm_offs, rows + 1, (int32_t)c->perm_items)) return -1;
    if (fill_zero(&c->perm_valid, vbytes)) return -1;
    if (fill_offs(&c->perm.offs, 1, 0)) return -1;
    return 0;
}

static int append_row(Cols *c, Row *r, const Enrich *en, const Buf *escr) {
    int64_t idx = c->rows;
    for (int k = 0; k < NSTR; k++) {
        SVal *sv = &r->s[k];
        const unsigned char *ptr = NULL;
        size_t n = 0;
        int set = 0;
        if (sv->set) {
            ptr = sval_ptr(r, k); n = sv->n; set = 1;
        } else if (en) {
            const SVal *e = NULL;
            if (k == S_SYSCALL) e = &en->syscall;
            else if (k == S_EXE) e = &en->exe;
            else if (k == S_CWD) e = &en->cwd;
            else if (k == S_PROCTITLE) e = &en->proctitle;
            if (e && e->set) { ptr = eptr(e, escr); n = e->n; set = 1; }
        }
        if (!set) continue;
        if (is_dict_col(k) ? append_dict(&c->s[k], idx, ptr, n)
                           : append_str(&c->s[k], idx, ptr, n, k == S_RAW))
            return -1;
    }
    for (int k = 0; k < NINT; k++) {
        IVal iv = r->i[k];
        if (!iv.set && en) {
            if (k == I_UID) iv = en->uid;
            else if (k == I_AUID) iv = en->auid;
        }
        if (!iv.set) continue;
        IntCol *ic = &c->i[k];
        if (fill_zero(&ic->vals, (size_t)idx * 8) || buf_put(&ic->vals, &iv.v, 8) ||
            bit_on(&ic->valid, idx))
            return -1;
    }
    if (r->has_perms) {
        if (fill_offs(&c->perm_offs, idx + 1, (int32_t)c->perm_items)) return -1;
        if (fill_offs(&c->perm.offs, 1, 0)) return -1;
        const unsigned char *p = r->perms, *end = r->perms + r->perms_n;
        while (p < end) {
            while (p < end && IS_WS(*p)) p++;
            if (p >= end) break;
            const unsigned char *q = p;
            while (q < end && !IS_WS(*q)) q++;
            if (put_text(&c->perm.data, p, (size_t)(q - p))) return -1;
            int32_t o = (int32_t)c->perm.data.n;
            if (buf_put(&c->perm.offs, &o, 4)) return -1;
            c->perm_items++;
            p = q;
        }
        int32_t o = (int32_t)c->perm_items;
        if (buf_put(&c->perm_offs, &o, 4) || bit_on(&c->perm_valid, idx)) return -1;
    }
    c->rows++;
    return 0;
}

static void cols_reset(Cols *c) {
    for (int k = 0; k < NSTR; k++) {
        StrCol *sc = &c->s[k];
        sc->data.n = sc->offs.n = sc->valid.n = sc->idx.n = 0;
        sc->ndict = 0;
        if (sc->slots) memset(sc->slots, 0, sc->nslots * sizeof(uint32_t));
    }
    for (int k = 0; k < NINT; k++) c->i[k].vals.n = c->i[k].valid.n = 0;
    c->perm.data.n = c->perm.offs.n = c->perm.valid.n = 0;
    c->perm_offs.n = c->perm_valid.n = 0;
    c->rows = 0;
    c->perm_items = 0;
}


static PyObject *bytes_of(Buf *b) {
    return PyBytes_FromStringAndSize(b->p ? b->p : "", (Py_ssize_t)b->n);
}

/* A buffer handed out to Python as it is (no copy): it owns the memory it frees, and
 * exports it read-only through the buffer protocol (pa.py_buffer wraps it). */
typedef struct {
    PyObject_HEAD
    char *p;
    Py_ssize_t n;
} Owned;
static int owned_getbuffer(PyObject *self, Py_buffer *view, int flags) {
    Owned *o = (Owned *)self;
    return PyBuffer_FillInfo(view, self, o->p ? o->p : (char *)"", o->n, 1, flags);
}
static void owned_dealloc(PyObject *self) {
    free(((Owned *)self)->p);
    Py_TYPE(self)->tp_free(self);
}
static Py_ssize_t owned_len(PyObject *self) { return ((Owned *)self)->n; }
static PyBufferProcs OWNED_BUFFER = {owned_getbuffer, NULL};
static PySequenceMethods OWNED_SEQ = {.sq_length = owned_len};
static PyTypeObject OwnedType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "armorwatch.parsers._fastscan.Buffer",
    .tp_basicsize = sizeof(Owned),
    .tp_dealloc = owned_dealloc,
    .tp_as_buffer = &OWNED_BUFFER,
    .tp_as_sequence = &OWNED_SEQ,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "scanner output bytes (buffer protocol, len)",
};

/* scan()'s column buffers leave as they are (copying them into bytes was ~2 % of a
 * whole parse); the next scan starts a new one of about the same size */
static PyObject *take_buf(Buf *b) {
    Owned *o = PyObject_New(Owned, &OwnedType);
    if (!o) return NULL;
    o->p = b->p;
    o->n = (Py_ssize_t)b->n;
    b->hint = b->n + b->n / 8;
    b->p = NULL;
    b->n = b->cap = 0;
    return (PyObject *)o;
}

/* -------------------------------------------------------------------- scan() */
#define MAX_LINE (16 << 10) /* records.MAX_LINE */
#define NO_TS (-(1LL << 62))  /* stream._NO_TS: no time */
#define SCAN_UNTRUSTED_TAG 1  /* Parser(kernel_tag=False): "kernel:" proves no origin */
#define SCAN_INFER_YEAR 2     /* Parser(year=None): RFC 3164 years follow the audit times */

/* records.is_binary: a C0 control byte other than \t \n \r ESC GS */
static int is_binary(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != 0x1b && c != 0x1d) return 1;
    }
    return 0;
}

/* only Python whitespace (bytes.strip()) */
static int is_blank(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!IS_PYSPACE(s[i])) return 0;
    return 1;
}

static int body_has_candidate(const unsigned char *b, size_t n) {
    const unsigned char *r, *p, *m;
    size_t rn, pn;
    if (n >= 9 && memcmp(b, "apparmor=", 9) == 0) return 1; /* the kernel's own layout */
    if (se_match(b, n, &r, &rn, &p, &pn, &m)) return 1;
    return has_aa(b, n);
}

static int interesting(const unsigned char *s, size_t n) {
    return find_bytes(s, n, "apparmor=", 9) || find_bytes(s, n, "avc: ", 5) || find_bytes(s, n, "lost=", 5) ||
           find_bytes(s, n, "APPARMOR", 8) || find_bytes(s, n, "callbacks suppressed", 20) ||
           find_bytes(s, n, "type=15", 7) || find_bytes(s, n, "UNKNOWN[15", 10) ||
           find_bytes(s, n, "Suppressed ", 11) || (n > 0 && s[0] == '{');
}

static size_t count_quotes(const unsigned char *p, size_t n) {
    size_t q = 0;
    const unsigned char *end = p + n;
    while (p < end && (p = memchr(p, '\'', (size_t)(end - p))) != NULL) {
        q++;
        p++;
    }
    return q;
}

/* what in the body of a header line of another type the Python path looks at */
static int body_interesting(const unsigned char *s, size_t n) {
    /* (loss words inside an audit record are never loss reports: records.classify_line) */
    return find_bytes(s, n, "apparmor=", 9) || find_bytes(s, n, "avc: ", 5);
}

/* the USER_AVC inner body (records.audit_record): 0 = not a MAC candidate */
static int user_inner(LineInfo *L) {
    const unsigned char *b = L->h.body;
    size_t n = L->h.body_n;
    const unsigned char *m = find_bytes(b, n, "msg='", 5);
    if (!m) return 0;
    size_t start = (size_t)(m - b);
    /* kernel-written prefix: pid= uid= auid= (first wins) */
    Tok toks[MAXTOK];
    int ok;
    int nt = tokenize(b, start, toks, MAXTOK, &ok);
    if (nt < 0) return -1;
    for (int t = 0; t < nt; t++) {
        int which = KEQ(toks[t].k, toks[t].kn, "pid") ? 0 : KEQ(toks[t].k, toks[t].kn, "uid") ? 1
                  : KEQ(toks[t].k, toks[t].kn, "auid") ? 2 : -1;
        if (which < 0 || L->sender_set[which]) continue;
        L->sender_set[which] = 1;
        int64_t x;
        int rc = parse_int(toks[t].v, toks[t].vn, &x);
        if (rc == 2) return -1;
        if (rc == 1) L->sender[which] = x;
        else L->sender_set[which] = 2; /* seen, null */
    }
    size_t end = n;
    while (end > 0 && b[end - 1] != '\'') end--;
    end = end > 0 ? end - 1 : 0; /* index of the last quote */
    if (end <= start + 4) end = n;
    L->body = b + start + 5;
    L->body_n = end - (start + 5);
    /* libaudit appends " exe=... sauid=... hostname=? addr=? terminal=?": cut it off at
     * the last " exe=" and keep its first exe= */
    for (size_t j = L->body_n; j >= 5; j--) {
        if (memcmp(L->body + j - 5, " exe=", 5) == 0) {
            size_t cut = j - 5;
            Tok tt[MAXTOK];
            int ok2;
            /* as everywhere, text after a 0x1d is the ENRICHED part, not the sender's */
            const unsigned char *gs = memchr(L->body + cut, 0x1d, L->body_n - cut);
            size_t tn = gs ? (size_t)(gs - (L->body + cut)) : L->body_n - cut;
            int nt2 = tokenize(L->body + cut, tn, tt, MAXTOK, &ok2);
            if (nt2 < 0) return -1;
            for (int t = 0; t < nt2; t++)
                if (KEQ(tt[t].k, tt[t].kn, "exe")) {
                    L->exe = tt[t].v;
                    L->exe_n = tt[t].vn;
                    L->exe_quoted = tt[t].quoted;
                    L->has_exe = 1;
                    break;
                }
            L->body_n = cut;
            break;
        }
    }
    return 1;
}

/* stream._is_daemon_start: an auditd DAEMON_START line ("[node=H ]type=DAEMON_START
 * msg=audit(..."), at which the stream's boot changes (Parser.feed) */
#define DAEMON_START "type=DAEMON_START msg=audit("
static int is_daemon_start(const unsigned char *s, size_t n) {
    if (n >= 5 && memcmp(s, "node=", 5) == 0) {
        const unsigned char *sp = memchr(s, ' ', n);
        if (!sp) return 0;
        n -= (size_t)(sp + 1 - s);
        s = sp + 1;
    }
    return n >= sizeof(DAEMON_START) - 1 && s[5] == 'D' &&
           memcmp(s, DAEMON_START, sizeof(DAEMON_START) - 1) == 0;
}

/* the line at buf[pos] (n: the buffer's end) is a DAEMON_START line */
static inline int daemon_line(const unsigned char *buf, size_t pos, size_t n) {
    unsigned char c = buf[pos];
    if (c != 't' && c != 'n') return 0;
    const unsigned char *nlp = memchr(buf + pos, '\n', n - pos);
    return is_daemon_start(buf + pos, (nlp ? (size_t)(nlp - buf) : n) - pos);
}

/* the scan's column buffers and its row (they live across calls: see scan()) */
static Cols C;
static Row row;
static Buf escr;

/* The MAC row of line li (its body, li->user, the sender values) appended to C, with the
 * enrichment en (NULL: none): RC_OK, RC_SLOW when the Python path must judge the record
 * (row not appended), -1 on error. has_serial: 0 for a journal-short line (no audit id). */
static int mac_row(LineInfo *li, const Enrich *en, int flags, int has_serial, int dry) {
    row_reset(&row);
    int rc;
    const unsigned char *res, *perms, *ms;
    size_t resn, permsn;
    const unsigned char *after = NULL;
    if (!(li->body_n >= 9 && memcmp(li->body, "apparmor=", 9) == 0))
        after = se_match(li->body, li->body_n, &res, &resn, &perms, &permsn, &ms);
    if (after && !has_aa(li->body, (size_t)(ms - li->body))) {
        rc = do_selinux(&row, after, li->body_n - (size_t)(after - li->body), res, resn, perms, permsn);
    } else {
        rc = do_apparmor(&row, li->body, li->body_n, li->user || 0);
    }
    if (rc != RC_OK || dry) return rc; /* dry: only whether the scanner reads it */
    if (li->has_exe && set_str(&row, S_EXE, "exe", 3, li->exe, li->exe_n, li->exe_quoted)) return -1;
    row.s[S_HOST].set = li->h.node != NULL;
    row.s[S_HOST].dec = 0;
    row.s[S_HOST].p = li->h.node;
    row.s[S_HOST].n = li->h.node_n;
    row.s[S_RAW].set = 1; row.s[S_RAW].dec = 0;
    row.s[S_RAW].p = li->ptr; row.s[S_RAW].n = li->len;
    row.s[S_RECORD_TYPE].set = 1; row.s[S_RECORD_TYPE].dec = 0;
    row.s[S_RECORD_TYPE].p = (const unsigned char *)(li->user ? "USER_AVC" : "AVC");
    row.s[S_RECORD_TYPE].n = li->user ? 8 : 3;
    row.i[I_TS].v = li->ts; row.i[I_TS].set = 1;
    row.i[I_SERIAL].v = has_serial ? (int64_t)li->h.serial : 0; row.i[I_SERIAL].set = has_serial;
    row.i[I_ORDINAL].v = li->member; row.i[I_ORDINAL].set = 1;
    /* 2: a kernel record behind a syslog tag ("kernel:", "audit:") that proves nothing
     * here (records.classify_line: origin unverified) */
    row.i[I_USER].v = li->user ? 1 : li->framed && (flags & SCAN_UNTRUSTED_TAG) ? 2 : 0;
    row.i[I_USER].set = 1;
    if (!row.i[I_SELINUX].set) { row.i[I_SELINUX].v = 0; row.i[I_SELINUX].set = 1; }
    row.i[I_EVENT].v = li->event; row.i[I_EVENT].set = 1;
    row.i[I_MEMBER].v = li->member; row.i[I_MEMBER].set = 1;
    for (int w = 0; w < 3; w++)
        if (li->sender_set[w] == 1) {
            row.i[I_SENDER_PID + w].v = li->sender[w];
            row.i[I_SENDER_PID + w].set = 1;
        }
    return append_row(&C, &row, en, &escr) ? -1 : RC_OK;
}

/* A journal-short line (short_prefix) as records._record reads it behind the tag "audit":
 * K_DONE (its row appended: no audit id, no event, the syslog host and date), K_IGNORE
 * (records._mac_looking finds nothing: no record, no time), K_SLOW (the Python path
 * judges it), -1 on error, -2 when the line is not of this shape. year: what an RFC 3164
 * date takes, 0 = unknown. Such a line never carries an audit id: it teaches no year. */
static int short_line(LineInfo *li, const unsigned char *s, size_t len, int64_t year, int flags) {
    SDate d;
    const unsigned char *host, *ty, *body;
    size_t host_n, ty_n, body_n;
    if (!short_prefix(s, len, &d, &host, &host_n, &ty, &ty_n, &body, &body_n)) return -2;
    size_t rn = (size_t)(s + len - ty);
    int is_user = KEQ(ty, ty_n, "USER_AVC");
    if (!is_user && !KEQ(ty, ty_n, "AVC")) {
        /* SYSCALL, PROCTITLE, … : nothing unless a MAC keyword is there (then Python) */
        return find_bytes(ty, rn, "apparmor=", 9) || find_bytes(ty, rn, "avc: ", 5) ||
                       find_bytes(ty, rn, "type=APPARMOR", 13) || find_bytes(ty, rn, "type=15", 7) ||
                       find_bytes(ty, rn, "UNKNOWN[15", 10)
                   ? K_SLOW : K_IGNORE;
    }
    if ((!d.iso && !year) || is_blank(body, body_n)) return K_SLOW;
    li->ts = date_ms(&d, year);
    li->h.node = host;
    li->h.node_n = host_n;
    li->h.body = body;
    li->h.body_n = body_n;
    li->framed = 1; /* behind a syslog tag: Parser(kernel_tag=False) makes it unverified */
    if (is_user) {
        li->user = 1;
        if (user_inner(li) <= 0) return K_SLOW;
    } else {
        li->body = body;
        li->body_n = body_n;
    }
    if (!body_has_candidate(li->body, li->body_n)) return K_SLOW;
    int rc = mac_row(li, NULL, flags, 0, 0);
    return rc < 0 ? -1 : rc == RC_SLOW ? K_SLOW : K_DONE;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer view, hview;
    Py_ssize_t dstart, dend;
    int final;
    long long prev_max;
    long long window;
    int flags = 0; /* SCAN_UNTRUSTED_TAG */
    /* >= 0: stop at the first DAEMON_START line that starts at or after this position of
     * head + data (the lines before it are scanned as if the buffer ended there, the rest
     * is handed back as hold_from; "daemon" = its position), so that Parser.feed need not
     * search every chunk for one */
    Py_ssize_t daemon_from = -1;
    /* ncarry: the first ncarry bytes of head are lines carried from the previous call
     * (their times taught the year there, at their place in the stream, not again here);
     * year: the year RFC 3164 dates take at the buffer's start (Parser.year), 0 = none:
     * journal-short lines are then left to the Python path */
    Py_ssize_t ncarry = 0;
    int year = 0;
    if (!PyArg_ParseTuple(args, "y*y*nnpLL|inni", &hview, &view, &dstart, &dend, &final, &prev_max,
                          &window, &flags, &daemon_from, &ncarry, &year))
        return NULL;
    if (ncarry < 0) ncarry = 0;
    if (dstart < 0 || dend < dstart || dend > view.len) {
        PyBuffer_Release(&hview);
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "bad data range");
        return NULL;
    }
    /* the logical buffer is head + data[dstart:dend] (head: carried lines and the line
     * completed across the previous chunk; it ends at a newline), so the big chunk is
     * never copied */
    size_t headlen = (size_t)hview.len;

    /* buffers live across calls (the interpreter lock serialises calls): after the
     * first chunk no allocation, copying growth or fresh page faults */
    static LineInfo *L = NULL;
    static size_t lcap = 0;
    size_t nl = 0;
    static Events E;
    E.n = 0;
    ENR.n = 0;
    if (E.slots) for (size_t i = 0; i < E.nslots; i++) E.slots[i] = -1;
    escr.n = 0;
    cols_reset(&C);
    row.scratch.n = 0;
    PyObject *result = NULL, *slow = NULL, *carry = NULL, *carry_first = NULL, *enrich = NULL;
    int64_t max_ts = prev_max;
    long long hold_from = -1;
    long long daemon_at = -1;
    long long junk_lines = 0, junk_bytes = 0; /* binary lines that are nothing else */
    int64_t yr_ts = NO_TS; /* newest header time since the last slow line (year inference) */
    /* the year the Python path would give an RFC 3164 date at this point of pass 1, as
     * Parser._classify / _learn_year learn it (the time of the last line read with an audit
     * id); 0 = unknown (a line the Python path judges may have changed it): a
     * journal-short line with such a date is then left to the Python path */
    int64_t cur_year = year >= 1 && year <= 9999 ? year : 0;
    int shorts = cur_year != 0, infer = (flags & SCAN_INFER_YEAR) != 0;
    int err = 0;

    /* pass 1: lines, headers, kinds, events, enrichment */
    for (int sg = 0; sg < 2; sg++) {
    const unsigned char *buf = sg ? (const unsigned char *)view.buf + dstart : hview.buf;
    size_t n = sg ? (size_t)(dend - dstart) : headlen;
    size_t lbase = sg ? headlen : 0;
    size_t pos = 0;
    while (pos < n) {
        const unsigned char *nlp = memchr(buf + pos, '\n', n - pos);
        size_t stop = nlp ? (size_t)(nlp - buf) : n;
        size_t next = nlp ? stop + 1 : n;
        size_t len = stop - pos;
        if (len && buf[pos + len - 1] == '\r') len--;
        const unsigned char *s = buf + pos;
        if (daemon_from >= 0 && lbase + pos >= (size_t)daemon_from && is_daemon_start(s, len)) {
            hold_from = daemon_at = (long long)(lbase + pos);
            goto pass1_done;
        }
        /* a msg='... continued on indented lines (Parser._iter_lines) */
        int force_slow = 0;
        if (len >= 5 && memchr(s, '\'', len) && find_bytes(s, len, "msg='", 5)) {
            size_t q = 0;
            q = count_quotes(s, len);
            size_t joined = 0;
            while (q % 2 == 1) {
                /* a DAEMON_START next ends the buffer here (Parser.feed cuts it there) */
                int cut = daemon_from >= 0 && lbase + pos >= (size_t)daemon_from && next < n &&
                          daemon_line(buf, next, n);
                if (next >= n || cut) {
                    if (!final) {
                        hold_from = (long long)(lbase + pos);
                        if (cut) daemon_at = (long long)(lbase + next);
                        goto pass1_done;
                    }
                    break;
                }
                if (buf[next] != ' ' && buf[next] != '\t') break;
                const unsigned char *nl2 = memchr(buf + next, '\n', n - next);
                size_t stop2 = nl2 ? (size_t)(nl2 - buf) : n;
                /* never beyond the kernel's message size (Parser.MAX_CONTINUATION) */
                if (joined + (stop2 - next) > 8560) break;
                joined += stop2 - next;
                q += count_quotes(buf + next, stop2 - next);
                if (stop2 > next && buf[stop2 - 1] == '\r') force_slow = 1;
                len = stop2 - pos;
                next = nl2 ? stop2 + 1 : n;
            }
        }
        if (nl == lcap) {
            lcap = lcap ? lcap * 2 : 4096;
            LineInfo *nlines = realloc(L, lcap * sizeof(LineInfo));
            if (!nlines) { err = 1; goto done; }
            L = nlines;
        }
        LineInfo *li = &L[nl];
        /* only the fields read before being written (the struct is large) */
        li->kind = K_IGNORE;
        li->user = li->member = li->aux = li->has_exe = 0;
        li->sender_set[0] = li->sender_set[1] = li->sender_set[2] = 0;
        li->ts = 0;
        li->body = NULL;
        li->body_n = 0;
        li->start = lbase + pos;
        li->ptr = s;
        li->len = len;
        li->event = -1;
        li->hdr = li->framed = 0;
        pos = next;
        if (len == 0) { nl++; continue; }
        if (force_slow) {
            li->kind = K_SLOW;
            if (infer && find_bytes(s, len, "audit(", 6)) cur_year = 0;
            nl++;
            continue;
        }
        /* over the line cap (records.MAX_LINE): no kernel wrote it; the Python path rejects
         * it or counts it, and its header moves no clock */
        if (len > MAX_LINE) { li->kind = K_SLOW; nl++; continue; }
        int hr = parse_header(s, len, &li->h);
        if (hr == 0) {
            /* a kernel-log prefix (kern.log, syslog, dmesg, journalctl): the record after it */
            size_t off;
            const unsigned char *host;
            size_t host_n;
            int framed;
            if (kern_prefix(s, len, &off, &host, &host_n, &framed)) {
                hr = parse_header(s + off, len - off, &li->h);
                if (hr == 1) {
                    if (!li->h.node) { /* records._record: node= wins over the syslog host */
                        li->h.node = host;
                        li->h.node_n = host_n;
                    }
                    li->framed = framed;
                } else {
                    hr = -1; /* a header the Python path must judge */
                }
            }
        }
        if (hr == 0 && shorts) {
            /* journalctl -o short of the audit transport ("… audit[633]: AVC apparmor=…") */
            int sk = short_line(li, s, len, cur_year, flags);
            if (sk == -1) { err = 1; goto done; }
            if (sk >= 0) {
                li->kind = sk;
                if (sk == K_DONE && li->ts > max_ts) max_ts = li->ts; /* Grouper.handle's clock */
                if (sk == K_IGNORE && is_binary(s, len)) {
                    junk_lines++;
                    junk_bytes += (long long)len;
                }
                nl++;
                continue;
            }
        }
        if (hr == 0) {
            /* what records.may_matter or the audit.log rules look at */
            li->kind = interesting(s, len) || find_bytes(s, len, "audit", 5) ? K_SLOW : K_IGNORE;
            if (li->kind == K_IGNORE && is_binary(s, len)) {
                junk_lines++;
                junk_bytes += (long long)len;
            }
            /* the Python path reads an audit id (and learns the year) only after "audit(" */
            if (li->kind == K_SLOW && infer && find_bytes(s, len, "audit(", 6)) cur_year = 0;
            nl++;
            continue;
        }
        if (hr < 0) {
            li->kind = K_SLOW;
            if (infer && find_bytes(s, len, "audit(", 6)) cur_year = 0;
            nl++;
            continue;
        }
        li->hdr = 1;
        li->ts = li->h.ts;
        int64_t max_before = max_ts;
        if (li->h.ts > max_ts) max_ts = li->h.ts;
        Hdr *h = &li->h;
        int aux = 0;
        int tc = type_code(h);
        if ((tc == T_AVC || tc == T_USER_AVC) && is_blank(h->body, h->body_n)) {
            li->kind = K_SLOW; /* an empty MAC record: the Python path rejects it */
        } else if (tc == T_AVC) {
            li->body = h->body; li->body_n = h->body_n;
            li->kind = body_has_candidate(h->body, h->body_n) ? K_MAC : K_IGNORE;
        } else if (tc == T_USER_AVC) {
            li->user = 1;
            int u = user_inner(li);
            if (u < 0) li->kind = K_SLOW;
            else if (u == 0) li->kind = K_IGNORE;
            else {
                /* the libaudit trailer " exe=…" is cut off the sender text */
                li->kind = body_has_candidate(li->body, li->body_n) ? K_MAC : K_IGNORE;
            }
        } else if (tc == T_SYSCALL) aux = 1;
        else if (tc == T_CWD) aux = 2;
        else if (tc == T_PROCTITLE) aux = 3;
        else if (tc == T_EOE) aux = 4;
        else if (tc == T_PATH) li->kind = K_IGNORE; /* no field we use */
        else {
            li->kind = body_interesting(h->body, h->body_n) || find_bytes(h->type, h->type_n, "APPARMOR", 8) ||
                       (h->type_n >= 2 && h->type[0] == '1' && h->type[1] == '5') ||
                       find_bytes(h->type, h->type_n, "[15", 3)
                           ? K_SLOW : K_IGNORE;
        }
        if (aux) li->kind = K_AUX;
        if (infer && li->start >= (size_t)ncarry) {
            /* the Python path learns the year of every line it reads an audit id of: these
             * surely have one; a MAC record may be rejected (then it teaches nothing) */
            int64_t y = year_of_ms(li->ts);
            if (li->kind == K_AUX || li->kind == K_IGNORE) cur_year = y;
            else if (y != cur_year) cur_year = 0;
        }
        if (li->kind == K_MAC || li->kind == K_AUX || (li->kind == K_SLOW)) {
            int64_t e = event_get(&E, h->node, h->node_n, h->serial, h->ts, (int64_t)nl,
                                  max_before, window);
            if (e == -2) { err = 1; goto done; }
            li->event = e;
            Event *ev = &E.ev[e];
            if (li->kind == K_AUX) {
                li->aux = aux; /* its fields are read only if the event has a MAC record */
                if (aux == 3 || aux == 4) ev->term = ev->closed = 1;
            } else {
                li->member = ev->members++;
                if (ev->first_mac_line < 0) ev->first_mac_line = (int64_t)nl;
                if (li->kind == K_SLOW) ev->has_slow = 1;
                if (li->user && li->kind == K_MAC) ev->single = ev->closed = 1;
            }
        }
        nl++;
    }
    }
pass1_done:
    /* completion */
    for (size_t e = 0; e < E.n; e++) {
        Event *ev = &E.ev[e];
        ev->complete = final || ev->closed || ev->ts < max_ts - window;
    }
    /* enrichment, only for complete events that have a MAC record (most SYSCALL events
     * have none and are never tokenised) */
    for (size_t i = 0; i < nl; i++) {
        LineInfo *li = &L[i];
        if (li->kind != K_AUX || li->aux > 3 || li->event < 0) continue;
        Event *ev = &E.ev[li->event];
        if (!ev->complete || ev->members == 0) continue;
        if (ev->en < 0) {
            if (ENR.n == ENR.cap) {
                size_t cap = ENR.cap ? ENR.cap * 2 : 1024;
                Enrich *p2 = realloc(ENR.v, cap * sizeof(Enrich));
                if (!p2) { err = 1; goto done; }
                ENR.v = p2;
                ENR.cap = cap;
            }
            memset(&ENR.v[ENR.n], 0, sizeof(Enrich));
            ev->en = (int64_t)ENR.n++;
        }
        if (aux_fields(&ENR.v[ev->en], &escr, li->aux, li->h.body, li->h.body_n)) { err = 1; goto done; }
    }

    slow = PyList_New(0);
    carry = PyList_New(0);
    carry_first = PyList_New(0);
    enrich = PyDict_New();
    if (!slow || !carry || !carry_first || !enrich) goto done;

    /* pass 2: rows of complete events; slow lines; carry of open events */
    for (size_t i = 0; i < nl; i++) {
        LineInfo *li = &L[i];
        Event *ev = li->event >= 0 ? &E.ev[li->event] : NULL;
        /* (a carried line taught the year at its place, in the previous call) */
        int fresh = li->start >= (size_t)ncarry;
        if (ev && !ev->complete) {
            /* a MAC record of an open event is read in a later call: whether it teaches
             * the year here (the Python path learns it unless it rejects the record) is
             * whether the scanner reads it (a record it hands back is taken as a reject) */
            if (li->hdr && fresh) {
                int rc = li->kind == K_MAC ? mac_row(li, NULL, flags, 1, 1) : RC_OK;
                if (rc < 0) { err = 1; goto done; }
                if (rc == RC_OK) yr_ts = li->ts;
            }
            if (li->kind != K_IGNORE) {
                PyObject *t = Py_BuildValue("(nn)", (Py_ssize_t)li->start, (Py_ssize_t)li->len);
                if (!t || PyList_Append(carry, t)) { Py_XDECREF(t); goto done; }
                Py_DECREF(t);
                if ((int64_t)i == ev->first_mac_line) {
                    PyObject *f = PyLong_FromSsize_t((Py_ssize_t)L[ev->first_line].start);
                    if (!f || PyList_Append(carry_first, f)) { Py_XDECREF(f); goto done; }
                    Py_DECREF(f);
                }
            }
            continue;
        }
        if (li->kind == K_MAC) {
            int rc = mac_row(li, ev && ev->en >= 0 ? &ENR.v[ev->en] : NULL, flags, 1, 0);
            if (rc < 0) { err = 1; goto done; }
            if (rc == RC_SLOW) {
                li->kind = K_SLOW;
                if (ev) ev->has_slow = 1;
            } else {
                if (fresh) yr_ts = li->ts;
                continue;
            }
        }
        if (li->kind == K_SLOW) {
            /* with the newest header time before it that the Python path does not see */
            PyObject *t = Py_BuildValue("(nnLiL)", (Py_ssize_t)li->start, (Py_ssize_t)li->len,
                                        (long long)li->event, li->member, (long long)yr_ts);
            if (!t || PyList_Append(slow, t)) { Py_XDECREF(t); goto done; }
            Py_DECREF(t);
            yr_ts = NO_TS;
        } else if (li->hdr && fresh) {
            yr_ts = li->ts;
        }
    }
    /* enrichment of events that have slow members (for the Python path) */
    for (size_t e = 0; e < E.n; e++) {
        Event *ev = &E.ev[e];
        if (!ev->has_slow || !ev->complete) continue;
        PyObject *d = PyDict_New();
        if (!d) goto done;
        static const Enrich none;
        const Enrich *en = ev->en >= 0 ? &ENR.v[ev->en] : &none;
        const SVal *sv[4] = {&en->syscall, &en->exe, &en->cwd, &en->proctitle};
        const char *names[4] = {"syscall", "exe", "cwd", "proctitle"};
        for (int k = 0; k < 4; k++) {
            if (!sv[k]->set) continue;
            PyObject *v = PyUnicode_DecodeUTF8((const char *)eptr(sv[k], &escr), (Py_ssize_t)sv[k]->n, "backslashreplace");
            if (!v || PyDict_SetItemString(d, names[k], v)) { Py_XDECREF(v); Py_DECREF(d); goto done; }
            Py_DECREF(v);
        }
        if (en->uid.set) { PyObject *v = PyLong_FromLongLong(en->uid.v); PyDict_SetItemString(d, "uid", v); Py_XDECREF(v); }
        if (en->auid.set) { PyObject *v = PyLong_FromLongLong(en->auid.v); PyDict_SetItemString(d, "auid", v); Py_XDECREF(v); }
        PyObject *key = PyLong_FromSsize_t((Py_ssize_t)e);
        if (!key || PyDict_SetItem(enrich, key, d)) { Py_XDECREF(key); Py_DECREF(d); goto done; }
        Py_DECREF(key);
        Py_DECREF(d);
    }

    if (cols_finish(&C)) { err = 1; goto done; }
    {
        PyObject *strs = PyList_New(NSTR), *ints = PyList_New(NINT);
        if (!strs || !ints) { Py_XDECREF(strs); Py_XDECREF(ints); goto done; }
        for (int k = 0; k < NSTR; k++) {
            StrCol *sc = &C.s[k];
            if (is_dict_col(k))
                PyList_SET_ITEM(strs, k, Py_BuildValue("(sNNNNL)", STR_NAMES[k], take_buf(&sc->idx),
                                                       take_buf(&sc->valid), take_buf(&sc->data),
                                                       take_buf(&sc->offs), (long long)sc->ndict));
            else
                PyList_SET_ITEM(strs, k, Py_BuildValue("(sNNN)", STR_NAMES[k], take_buf(&sc->data),
                                                       take_buf(&sc->offs), take_buf(&sc->valid)));
        }
        for (int k = 0; k < NINT; k++)
            PyList_SET_ITEM(ints, k, Py_BuildValue("(sNN)", INT_NAMES[k], take_buf(&C.i[k].vals),
                                                   take_buf(&C.i[k].valid)));
        PyObject *perms = Py_BuildValue("(NNNN)", take_buf(&C.perm_offs), take_buf(&C.perm_valid),
                                        take_buf(&C.perm.data), take_buf(&C.perm.offs));
        result = Py_BuildValue("{s:L,s:N,s:N,s:N,s:O,s:O,s:O,s:O,s:L,s:L,s:n,s:L,s:L,s:L,s:L}",
                               "rows", (long long)C.rows, "str", strs, "int", ints, "perms", perms,
                               "slow", slow, "carry", carry, "carry_first", carry_first,
                               "enrich", enrich, "max_ts", (long long)max_ts, "hold_from", hold_from,
                               "lines", (Py_ssize_t)nl, "junk_lines", junk_lines,
                               "junk_bytes", junk_bytes, "yr_ts", (long long)yr_ts,
                               "daemon", daemon_at);
    }
done:
    if (err && !PyErr_Occurred()) PyErr_NoMemory();
    Py_XDECREF(slow);
    Py_XDECREF(carry);
    Py_XDECREF(carry_first);
    Py_XDECREF(enrich);

    PyBuffer_Release(&view);
    PyBuffer_Release(&hview);
    if (err) { Py_XDECREF(result); return NULL; }
    return result;
}

/* ------------------------------------------------ journald JSON entries (fast.JournalLines)
 * journal(...) turns `journalctl -o json` lines into the lines scan() reads, exactly as
 * fast.JournalLines._translate does for the entries it can read with certainty (flat
 * objects whose values are strings, byte arrays or null; the fields it uses without
 * escapes); every other entry is "deferred": a `{SEQ` placeholder that Python replaces
 * with _translate's own answer. canon(line) is orjson.dumps(orjson.loads(line),
 * OPT_SORT_KEYS) for the same kind of entry, else None. */
#define JV_STR 1
#define JV_ARR 2
#define JV_NULL 3
typedef struct {
    const unsigned char *k, *v; /* key (no escapes), value: string content / array text */
    size_t kn, vn;
    int type, esc;              /* esc: the string has a backslash */
    uint64_t pre;               /* canon: the key's first 8 bytes, big-endian, 0-padded */
} JKV;

static int utf8_all(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        size_t k = utf8_valid_len(s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* no byte of w is '"', '\\', a C0 control or non-ASCII (false alarms are fine: the
 * caller then reads byte by byte) */
static inline int plain8(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    uint64_t z = ((q - ones) & ~q) | ((b - ones) & ~b) | (w - ones * 0x20) | w;
    return (z & high) == 0;
}

/* the first byte at or after p that is '"', '\\', a C0 control or non-ASCII (or one
 * before it), else e: 16 bytes at a time with SSE2, 8 without */
static inline const unsigned char *skip_plain(const unsigned char *p, const unsigned char *e) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), c0 = _mm_set1_epi8(0x20);
    while (e - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        /* signed compare: bytes >= 0x80 are negative, so "< 0x20" flags them too */
        __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                   _mm_cmplt_epi8(v, c0));
        int mask = _mm_movemask_epi8(bad);
        if (mask) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (e - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (!plain8(w)) break;
        p += 8;
    }
    return p;
}

/* Parse one flat JSON object. Returns the number of members, -1 when it is not a kind
 * we read with certainty (the caller defers to orjson). */
static int json_flat(const unsigned char *p, size_t n, JKV *kv, int cap) {
    const unsigned char *e = p + n;
    const unsigned char *p0 = p;
    int m = 0, ascii = 1;
#define JWS() while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++
    JWS();
    if (p >= e || *p != '{') return -1;
    p++;
    JWS();
    if (p < e && *p == '}') { p++; goto tail; }
    for (;;) {
        if (m >= cap || p >= e || *p != '"') return -1;
        const unsigned char *k = ++p;
        for (;;) {
            p = skip_plain(p, e);
            if (p >= e || *p == '"' || *p == '\\' || *p < 0x20) break;
            ascii &= *p < 0x80;
            p++;
        }
        if (p >= e || *p != '"') return -1;
        kv[m].k = k; kv[m].kn = (size_t)(p - k);
        p++;
        JWS();
        if (p >= e || *p != ':') return -1;
        p++;
        JWS();
        if (p >= e) return -1;
        if (*p == '"') {
            const unsigned char *v = ++p;
            int esc = 0;
            while (p < e && *p != '"') {
                p = skip_plain(p, e);
                if (p >= e || *p == '"') break;
                if (*p < 0x20) return -1;
                if (*p == '\\') {
                    esc = 1;
                    if (p + 1 >= e || !memchr("\"\\/bfnrtu", p[1], 9)) return -1;
                    if (p[1] == 'u') { /* 4 hex digits; a surrogate is left to orjson */
                        int v = 0;
                        if (e - p < 6) return -1;
                        for (int k = 2; k < 6; k++) {
                            int h = hexval(p[k]);
                            if (h < 0) return -1;
                            v = v * 16 + h;
                        }
                        if (v >= 0xD800 && v <= 0xDFFF) return -1;
                        p += 6;
                        continue;
                    }
                    p += 2;
                    continue;
                }
                ascii &= *p < 0x80;
                p++;
            }
            if (p >= e) return -1;
            kv[m].v = v; kv[m].vn = (size_t)(p - v); kv[m].type = JV_STR; kv[m].esc = esc;
            p++;
        } else if (*p == '[') {
            const unsigned char *v = ++p;
            JWS();
            if (p < e && *p == ']') { kv[m].v = v; kv[m].vn = 0; p++; } /* [] is falsy */
            else {
                for (;;) {
                    JWS();
                    const unsigned char *d = p;
                    int val = 0;
                    while (p < e && *p >= '0' && *p <= '9' && p - d < 4) { val = val * 10 + (*p - '0'); p++; }
                    if (p == d || (*d == '0' && p - d > 1) || val > 255) return -1;
                    JWS();
                    if (p < e && *p == ',') { p++; continue; }
                    if (p < e && *p == ']') break;
                    return -1;
                }
                kv[m].v = v; kv[m].vn = (size_t)(p - v); p++;
            }
            kv[m].type = JV_ARR; kv[m].esc = 0;
        } else if (e - p >= 4 && memcmp(p, "null", 4) == 0) {
            kv[m].v = p; kv[m].vn = 0; kv[m].type = JV_NULL; kv[m].esc = 0;
            p += 4;
        } else {
            return -1;
        }
        m++;
        JWS();
        if (p < e && *p == ',') { p++; JWS(); continue; }
        if (p < e && *p == '}') { p++; break; }
        return -1;
    }
tail:
    JWS();
    if (p != e) return -1;
#undef JWS
    if (!ascii && !utf8_all(p0, n)) return -1; /* orjson reads UTF-8 only */
    return m;
}

/* unescape a JSON string into out; 0 = ok, -1 = an escape we leave to orjson (\u of a
 * non-ASCII code point or NUL) */
static int json_unescape(Buf *out, const unsigned char *s, size_t n) {
    if (buf_reserve(out, n)) return -2;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *bs = memchr(s + i, '\\', n - i);
        size_t run = bs ? (size_t)(bs - s) - i : n - i;
        memcpy(out->p + out->n, s + i, run);
        out->n += run;
        i += run;
        if (i >= n) break;
        unsigned char c = s[++i];
        switch (c) {
        case '"': case '\\': case '/': out->p[out->n++] = (char)c; break;
        case 'b': out->p[out->n++] = '\b'; break;
        case 'f': out->p[out->n++] = '\f'; break;
        case 'n': out->p[out->n++] = '\n'; break;
        case 'r': out->p[out->n++] = '\r'; break;
        case 't': out->p[out->n++] = '\t'; break;
        case 'u': {
            if (i + 4 >= n) return -1;
            int v = 0;
            for (int k = 1; k <= 4; k++) {
                int h = hexval(s[i + k]);
                if (h < 0) return -1;
                v = v * 16 + h;
            }
            if (v == 0 || v >= 0x80) return -1;
            out->p[out->n++] = (char)v;
            i += 4;
            break;
        }
        default: return -1;
        }
    }
    return 0;
}

static int ascii_digits(const unsigned char *s, size_t n) {
    if (!n) return 0;
    for (size_t i = 0; i < n; i++) if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* fast.JournalLines._one_line */
static int one_line(const unsigned char *s, size_t n) {
    if (memchr(s, '\n', n) || memchr(s, '\r', n)) return 0;
    int q = 0, msgq = 0;
    for (const unsigned char *p = memchr(s, '\'', n); p; p = memchr(p + 1, '\'', (size_t)(s + n - p - 1))) {
        q++;
        if (p - s >= 4 && memcmp(p - 4, "msg=", 4) == 0) msgq = 1;
    }
    return !(msgq && (q & 1));
}

enum { J_HOST, J_MACHINE, J_BOOT, J_TRANSPORT, J_MESSAGE, J_TYPE, J_ID, J_SRC, J_RT, J_NF };
static const char *J_NAMES[J_NF] = {"_HOSTNAME", "_MACHINE_ID", "_BOOT_ID", "_TRANSPORT",
                                    "MESSAGE", "_AUDIT_TYPE_NAME", "_AUDIT_ID",
                                    "_SOURCE_REALTIME_TIMESTAMP", "__REALTIME_TIMESTAMP"};
static const size_t J_LENS[J_NF] = {9, 11, 8, 10, 7, 16, 9, 26, 20}; /* strlen(J_NAMES[j]) */
#define J_CAP 256

/* a trusted identity field: 1 = a non-empty string without escapes (its span), 0 = none
 * (absent, null, empty, an array: _str gives None), -1 = defer (escapes) */
static int jid(const JKV *f, const unsigned char **p, size_t *n) {
    *p = NULL; *n = 0;
    if (!f || f->type != JV_STR || f->vn == 0) return 0;
    if (f->esc) return -1;
    *p = f->v; *n = f->vn;
    return 1;
}

static PyObject *id_str(const unsigned char *p, size_t n, PyObject *dflt) {
    if (!p) { Py_INCREF(dflt); return dflt; }
    return PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)n, "strict");
}

/* output written straight into a bytes object (no copy of the chunk's scanner lines) */
typedef struct {
    PyObject *o;
    size_t n, cap;
} OBuf;
static int obuf_init(OBuf *b, size_t cap) {
    b->o = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap);
    b->n = 0;
    b->cap = cap;
    return b->o ? 0 : -1;
}
static int obuf_put(OBuf *b, const void *src, size_t len) {
    if (b->n + len > b->cap) {
        size_t cap = b->cap * 2 + len;
        if (_PyBytes_Resize(&b->o, (Py_ssize_t)cap)) return -1; /* (b->o is NULL then) */
        b->cap = cap;
    }
    memcpy(PyBytes_AS_STRING(b->o) + b->n, src, len);
    b->n += len;
    return 0;
}
/* the bytes written (the reference passes to the caller), NULL on error */
static PyObject *obuf_finish(OBuf *b) {
    if (_PyBytes_Resize(&b->o, (Py_ssize_t)b->n)) return NULL;
    PyObject *o = b->o;
    b->o = NULL;
    return o;
}

/* snprintf's work for the scanner line heads, without its cost (a sixth of the pass) */
static inline char *put_lit(char *d, const char *s, size_t n) {
    memcpy(d, s, n);
    return d + n;
}
static inline char *put_dec(char *d, unsigned long long v) {
    char t[24];
    int k = 0;
    do { t[k++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (k) *d++ = t[--k];
    return d;
}

static PyObject *journal(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end, max_line, max_nodes;
    long long seq;
    PyObject *nodes, *dhost, *dmachine, *dboot;
    (void)self;
    int cont = 0; /* data[start] does not begin the buffer: its first line may continue too */
    PyObject *prefix = NULL; /* bytes the output starts with (lines already made) */
    if (!PyArg_ParseTuple(args, "y*nnLO!nOOOn|pO!", &view, &start, &end, &seq, &PyDict_Type, &nodes,
                          &max_nodes, &dhost, &dmachine, &dboot, &max_line, &cont,
                          &PyBytes_Type, &prefix))
        return NULL;
    const unsigned char *data = (const unsigned char *)view.buf;
    if (start < 0 || end > view.len || start > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "bad range");
        return NULL;
    }
    OBuf out = {0};
    Buf starts = {0}, lens = {0}, idx = {0}, msg = {0};
    PyObject *idents = PyList_New(0), *deferred = PyList_New(0), *result = NULL;
    JKV *kv = malloc(sizeof(JKV) * J_CAP);
    int err = !idents || !deferred || !kv, aborted = 0;
    /* the scanner lines are shorter than the entries: one allocation, no regrowth */
    size_t pn = prefix ? (size_t)PyBytes_GET_SIZE(prefix) : 0;
    if (!err) err = obuf_init(&out, (size_t)(end - start) + 64 + pn);
    if (!err && pn) err = obuf_put(&out, PyBytes_AS_STRING(prefix), pn);
    /* the identity of the previous entry (most entries repeat it) */
    const unsigned char *pid_p[3] = {NULL, NULL, NULL};
    size_t pid_n[3] = {0, 0, 0};
    int32_t pid_ix = -1;
    long long pnode = -1;
    long long seq0 = seq;
    char head[192];
    Py_ssize_t pos = start;
    while (!err && pos < end) {
        const unsigned char *ln = data + pos;
        const unsigned char *nlp = memchr(ln, '\n', (size_t)(end - pos));
        size_t len = nlp ? (size_t)(nlp - ln) : (size_t)(end - pos);
        Py_ssize_t next = pos + (Py_ssize_t)len + (nlp ? 1 : 0);
        if ((pos > start || cont) && len && (ln[0] == ' ' || ln[0] == '\t')) {
            /* may continue a USER_AVC's msg='…: LineBuffer.lines cuts such a buffer */
            aborted = 1;
            break;
        }
        if (len && ln[len - 1] == '\r') len--;
        if (!len) { if (obuf_put(&out, "\n", 1)) err = 1; pos = next; continue; }
        int64_t rel = pos, ll = (int64_t)len;
        int32_t ix = -1;
        if (buf_put(&starts, &rel, 8) || buf_put(&lens, &ll, 8)) { err = 1; break; }
        size_t line_at = out.n;
        int act = 0; /* 0 fallback, 1 emitted, 2 defer */
        if ((Py_ssize_t)len > max_line || ln[0] != '{') goto fallback;
        int m = json_flat(ln, len, kv, J_CAP);
        if (m < 0) { act = 2; goto decided; }
        const JKV *f[J_NF] = {0};
        for (int i = 0; i < m; i++) {
            if (kv[i].kn < 7 || (kv[i].k[0] != '_' && kv[i].k[0] != 'M')) continue;
            for (int j = 0; j < J_NF; j++)
                if (kv[i].kn == J_LENS[j] && memcmp(kv[i].k, J_NAMES[j], J_LENS[j]) == 0) {
                    if (f[j]) { act = 2; goto decided; } /* repeated: orjson's last wins */
                    f[j] = &kv[i];
                }
        }
        const JKV *tr = f[J_TRANSPORT];
        int kernel;
        if (!tr || tr->type != JV_STR || tr->esc) {
            if (tr && tr->esc) { act = 2; goto decided; }
            goto fallback;
        }
        if (tr->vn == 5 && memcmp(tr->v, "audit", 5) == 0) kernel = 0;
        else if (tr->vn == 6 && memcmp(tr->v, "kernel", 6) == 0) kernel = 1;
        else goto fallback;
        const JKV *mf = f[J_MESSAGE];
        msg.n = 0;
        if (!mf || mf->type == JV_NULL) goto fallback;
        if (mf->type == JV_STR) {
            int r = json_unescape(&msg, mf->v, mf->vn);
            if (r == -2) { err = 1; break; }
            if (r) { act = 2; goto decided; }
        } else {
            const unsigned char *q = mf->v, *qe = mf->v + mf->vn;
            if (buf_reserve(&msg, mf->vn)) { err = 1; break; }
            while (q < qe) {
                if (*q >= '0' && *q <= '9') {
                    int v = 0;
                    while (q < qe && *q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
                    msg.p[msg.n++] = (char)v;
                } else q++;
            }
        }
        /* identity and node */
        const unsigned char *ip[3];
        size_t in[3];
        for (int k = 0; k < 3; k++)
            if (jid(f[J_HOST + k], &ip[k], &in[k]) < 0) { act = 2; goto decided; }
        long long node;
        if (pid_ix >= 0 && ((ip[0] == NULL) == (pid_p[0] == NULL)) &&
            ((ip[1] == NULL) == (pid_p[1] == NULL)) && ((ip[2] == NULL) == (pid_p[2] == NULL)) &&
            (!ip[0] || (in[0] == pid_n[0] && memcmp(ip[0], pid_p[0], in[0]) == 0)) &&
            (!ip[1] || (in[1] == pid_n[1] && memcmp(ip[1], pid_p[1], in[1]) == 0)) &&
            (!ip[2] || (in[2] == pid_n[2] && memcmp(ip[2], pid_p[2], in[2]) == 0))) {
            ix = pid_ix;
            node = pnode;
        } else {
            PyObject *h = id_str(ip[0], in[0], dhost), *mc = id_str(ip[1], in[1], dmachine),
                     *b = id_str(ip[2], in[2], dboot);
            if (!h || !mc || !b) { Py_XDECREF(h); Py_XDECREF(mc); Py_XDECREF(b); err = 1; break; }
            PyObject *key = PyTuple_Pack(2, h, b);
            PyObject *ident = PyTuple_Pack(3, h, mc, b);
            Py_DECREF(h); Py_DECREF(mc); Py_DECREF(b);
            if (!key || !ident) { Py_XDECREF(key); Py_XDECREF(ident); err = 1; break; }
            PyObject *nv = PyDict_GetItemWithError(nodes, key);
            if (!nv && PyErr_Occurred()) { Py_DECREF(key); Py_DECREF(ident); err = 1; break; }
            if (nv) node = PyLong_AsLongLong(nv);
            else if (PyDict_Size(nodes) >= max_nodes) { Py_DECREF(key); Py_DECREF(ident); goto fallback; }
            else {
                node = PyDict_Size(nodes);
                PyObject *nn = PyLong_FromLongLong(node);
                if (!nn || PyDict_SetItem(nodes, key, nn)) { Py_XDECREF(nn); Py_DECREF(key); Py_DECREF(ident); err = 1; break; }
                Py_DECREF(nn);
            }
            Py_DECREF(key);
            if (PyList_Append(idents, ident)) { Py_DECREF(ident); err = 1; break; }
            Py_DECREF(ident);
            ix = (int32_t)(PyList_GET_SIZE(idents) - 1);
            for (int k = 0; k < 3; k++) { pid_p[k] = ip[k]; pid_n[k] = in[k]; }
            pid_ix = ix;
            pnode = node;
        }
        const unsigned char *mb = (const unsigned char *)msg.p;
        size_t mn = msg.n;
        if (kernel) {
            /* classify_line(trusted_kernel=True) of "audit: type=…" (JournalLines._whole) */
            if (mn < 12 || memcmp(mb, "audit: type=", 12) != 0) goto fallback;
            const unsigned char *rest = mb + 7;
            size_t rn = mn - 7;
            const unsigned char *sp = memchr(rest + 5, ' ', rn - 5);
            size_t tn = sp ? (size_t)(sp - rest - 5) : rn - 5;
            if ((tn == 4 && memcmp(rest + 5, "1107", 4) == 0) ||
                (tn == 8 && memcmp(rest + 5, "USER_AVC", 8) == 0) ||
                (tn >= 7 && memcmp(rest + 5, "UNKNOWN", 7) == 0) || !one_line(rest, rn))
                goto fallback;
            char *h = head;
            h = put_lit(h, "[ 0.", 4);
            h = put_dec(h, (unsigned long long)seq);
            h = put_lit(h, "] node=J", 8);
            h = put_dec(h, (unsigned long long)node);
            *h++ = ' ';
            int hn = (int)(h - head);
            if (obuf_put(&out, head, (size_t)hn) || obuf_put(&out, rest, rn) || obuf_put(&out, "\n", 1)) { err = 1; break; }
            act = 1;
            goto decided;
        }
        {
            const JKV *tf = f[J_TYPE];
            if (!tf || tf->type != JV_STR || tf->esc || tf->vn == 0 || tf->vn > 64) { act = 2; goto decided; }
            const unsigned char *rt = tf->v;
            size_t rtn = tf->vn;
            if (rt[0] < 'A' || rt[0] > 'Z' || (rtn >= 7 && memcmp(rt, "UNKNOWN", 7) == 0)) { act = 2; goto decided; }
            for (size_t i = 1; i < rtn; i++)
                if (!((rt[i] >= 'A' && rt[i] <= 'Z') || (rt[i] >= '0' && rt[i] <= '9') || rt[i] == '_')) { act = 2; goto decided; }
            const unsigned char *body = mb;
            size_t bn = mn;
            if (bn > rtn && memcmp(body, rt, rtn) == 0 && body[rtn] == ' ') { body += rtn + 1; bn -= rtn + 1; }
            if (bn >= 5 && (memcmp(body, "type=", 5) == 0 || memcmp(body, "node=", 5) == 0 || memcmp(body, "host=", 5) == 0)) { act = 2; goto decided; }
            const JKV *sf = f[J_ID];
            if (!sf || sf->type != JV_STR) goto fallback;
            if (sf->esc) { act = 2; goto decided; }
            if (!ascii_digits(sf->v, sf->vn)) goto fallback;
            const JKV *uf = f[J_SRC];
            if (!uf || uf->type == JV_NULL || uf->vn == 0) uf = f[J_RT]; /* `or`: falsy */
            if (!uf || uf->type != JV_STR) goto fallback;
            if (uf->esc || uf->vn > 18) { act = 2; goto decided; }
            if (!ascii_digits(uf->v, uf->vn)) goto fallback;
            long long us = 0;
            for (size_t i = 0; i < uf->vn; i++) us = us * 10 + (uf->v[i] - '0');
            long long ms = us / 1000;
            if (!one_line(body, bn)) { act = 2; goto decided; }
            char *h = head; /* rtn <= 64: fits */
            h = put_lit(h, "[ 0.", 4);
            h = put_dec(h, (unsigned long long)seq);
            h = put_lit(h, "] node=J", 8);
            h = put_dec(h, (unsigned long long)node);
            h = put_lit(h, " type=", 6);
            h = put_lit(h, (const char *)rt, rtn);
            h = put_lit(h, " msg=audit(", 11);
            h = put_dec(h, (unsigned long long)(ms / 1000));
            *h++ = '.';
            *h++ = (char)('0' + ms % 1000 / 100);
            *h++ = (char)('0' + ms % 100 / 10);
            *h++ = (char)('0' + ms % 10);
            *h++ = ':';
            int hn = (int)(h - head);
            if (obuf_put(&out, head, (size_t)hn) || obuf_put(&out, sf->v, sf->vn) ||
                obuf_put(&out, "): ", 3) || obuf_put(&out, body, bn) || obuf_put(&out, "\n", 1)) { err = 1; break; }
            act = 1;
            goto decided;
        }
    fallback:
        act = 0;
        ix = -1;
    decided:
        if (act != 1) {
            out.n = line_at;
            char *h = head;
            *h++ = '{';
            h = put_dec(h, (unsigned long long)seq);
            *h++ = '\n';
            int hn = (int)(h - head);
            if (obuf_put(&out, head, (size_t)hn)) { err = 1; break; }
            if (act == 2) {
                ix = -1;
                PyObject *t = Py_BuildValue("(Lnnn)", seq, (Py_ssize_t)(pos), (Py_ssize_t)len, (Py_ssize_t)line_at);
                if (!t || PyList_Append(deferred, t)) { Py_XDECREF(t); err = 1; break; }
                Py_DECREF(t);
            }
        }
        if (buf_put(&idx, &ix, 4)) { err = 1; break; }
        seq++;
        pos = next;
    }
    if (!err && aborted) { result = Py_None; Py_INCREF(result); }
    else if (!err)
        result = Py_BuildValue("(NLNNNOO)", obuf_finish(&out), seq - seq0, bytes_of(&starts),
                               bytes_of(&lens), bytes_of(&idx), idents, deferred);
    if (err && !PyErr_Occurred()) PyErr_NoMemory();
    Py_XDECREF(out.o);
    buf_free(&starts); buf_free(&lens); buf_free(&idx); buf_free(&msg);
    free(kv);
    Py_XDECREF(idents);
    Py_XDECREF(deferred);
    PyBuffer_Release(&view);
    return result;
}

static inline int jkv_cmp(const void *a, const void *b) {
    const JKV *x = a, *y = b;
    size_t n = x->kn < y->kn ? x->kn : y->kn;
    int c = memcmp(x->k, y->k, n);
    if (c) return c;
    return x->kn < y->kn ? -1 : x->kn > y->kn;
}

/* a JSON string's content as orjson writes it (short escapes for \b \t \n \f \r, \u00xx
 * for the other C0 bytes, " and \ escaped, everything else as UTF-8) */
static int put_json_str(Buf *b, const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const unsigned char *bs = memchr(s + i, '\\', n - i);
        size_t run = bs ? (size_t)(bs - s) - i : n - i;
        if (buf_put(b, s + i, run)) return -1;
        i += run;
        if (i >= n) break;
        unsigned char c = s[++i];
        unsigned v;
        switch (c) {
        case '"': if (buf_put(b, "\\\"", 2)) return -1; continue;
        case '\\': if (buf_put(b, "\\\\", 2)) return -1; continue;
        case '/': if (buf_put(b, "/", 1)) return -1; continue;
        case 'b': v = 8; break;
        case 'f': v = 12; break;
        case 'n': v = 10; break;
        case 'r': v = 13; break;
        case 't': v = 9; break;
        default: /* u: json_flat checked 4 hex digits, no surrogate */
            v = 0;
            for (int k = 1; k <= 4; k++) v = v * 16 + (unsigned)hexval(s[i + k]);
            i += 4;
        }
        char tmp[8];
        size_t tn;
        if (v == 8) { memcpy(tmp, "\\b", 2); tn = 2; }
        else if (v == 9) { memcpy(tmp, "\\t", 2); tn = 2; }
        else if (v == 10) { memcpy(tmp, "\\n", 2); tn = 2; }
        else if (v == 12) { memcpy(tmp, "\\f", 2); tn = 2; }
        else if (v == 13) { memcpy(tmp, "\\r", 2); tn = 2; }
        else if (v < 0x20) { tmp[0] = '\\'; tmp[1] = 'u'; tmp[2] = '0'; tmp[3] = '0'; tmp[4] = HEXD[v >> 4]; tmp[5] = HEXD[v & 15]; tn = 6; }
        else if (v == '"') { memcpy(tmp, "\\\"", 2); tn = 2; }
        else if (v == '\\') { memcpy(tmp, "\\\\", 2); tn = 2; }
        else if (v < 0x80) { tmp[0] = (char)v; tn = 1; }
        else if (v < 0x800) { tmp[0] = (char)(0xC0 | (v >> 6)); tmp[1] = (char)(0x80 | (v & 63)); tn = 2; }
        else { tmp[0] = (char)(0xE0 | (v >> 12)); tmp[1] = (char)(0x80 | ((v >> 6) & 63)); tmp[2] = (char)(0x80 | (v & 63)); tn = 3; }
        if (buf_put(b, tmp, tn)) return -1;
    }
    return 0;
}

/* orjson.dumps(orjson.loads(line), option=OPT_SORT_KEYS) of a flat entry json_flat reads
 * (no repeated keys) appended to b: 0, 1 = not such an entry (b unchanged), -1 = no memory */
static int canon_into(Buf *b, const unsigned char *line, size_t n, JKV *kv) {
    int m = json_flat(line, n, kv, J_CAP);
    if (m < 0) return 1;
    size_t total = 0;
    for (int i = 0; i < m; i++) { /* keys hold no NUL: 0-padding sorts as memcmp does */
        uint64_t pre = 0;
        for (size_t k = 0; k < 8; k++) pre = pre << 8 | (k < kv[i].kn ? kv[i].k[k] : 0);
        kv[i].pre = pre;
        total += kv[i].kn + kv[i].vn + 8;
    }
    for (int i = 1; i < m; i++) { /* insertion sort: journald writes ~20 keys */
        JKV x = kv[i];
        int j = i - 1;
        while (j >= 0 && (kv[j].pre > x.pre || (kv[j].pre == x.pre && jkv_cmp(&kv[j], &x) > 0))) {
            kv[j + 1] = kv[j];
            j--;
        }
        kv[j + 1] = x;
    }
    for (int i = 1; i < m; i++)
        if (jkv_cmp(&kv[i - 1], &kv[i]) == 0) return 1;
    if (buf_reserve(b, total + 2)) return -1;
    int err = buf_put(b, "{", 1);
    for (int i = 0; i < m && !err; i++) {
        if (i) err |= buf_put(b, ",", 1);
        err |= buf_put(b, "\"", 1) || buf_put(b, kv[i].k, kv[i].kn) || buf_put(b, "\":", 2);
        if (kv[i].type == JV_NULL) err |= buf_put(b, "null", 4);
        else if (kv[i].type == JV_STR)
            err |= buf_put(b, "\"", 1) || (kv[i].esc ? put_json_str(b, kv[i].v, kv[i].vn) : buf_put(b, kv[i].v, kv[i].vn)) || buf_put(b, "\"", 1);
        else {
            err |= buf_put(b, "[", 1);
            const unsigned char *q = kv[i].v, *qe = kv[i].v + kv[i].vn;
            int first = 1;
            while (q < qe && !err) {
                if (*q >= '0' && *q <= '9') {
                    const unsigned char *d = q;
                    while (q < qe && *q >= '0' && *q <= '9') q++;
                    if (!first) err |= buf_put(b, ",", 1);
                    err |= buf_put(b, d, (size_t)(q - d));
                    first = 0;
                } else q++;
            }
            err |= buf_put(b, "]", 1);
        }
    }
    err |= buf_put(b, "}", 1);
    return err ? -1 : 0;
}

/* journal_rows(offsets, data, rows, seq0, entries, index, tab) -> (sel, who, slow): for
 * each scanned row (RAW = "[ 0.SEQ] …": int32 offsets + data of the binary column, with
 * the array's offset applied by the caller) its line in the block of entries seq0.. (sel,
 * int64) and identity index (who, int32), or -1/-1 and (row, SEQ) in slow: an entry not
 * in the block, held in tab, or without identity */
static PyObject *journal_rows(PyObject *self, PyObject *args) {
    Py_buffer ov, dv, iv;
    Py_ssize_t rows;
    long long seq0, nb;
    PyObject *tab;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*nLLy*O!", &ov, &dv, &rows, &seq0, &nb, &iv, &PyDict_Type, &tab))
        return NULL;
    const int32_t *off = ov.buf;
    const unsigned char *d = dv.buf;
    const int32_t *index = iv.buf;
    Buf sel = {0}, who = {0};
    PyObject *slow = PyList_New(0), *res = NULL;
    int err = !slow || ov.len < (Py_ssize_t)((rows + 1) * 4) || iv.len < nb * 4;
    for (Py_ssize_t r = 0; r < rows && !err; r++) {
        int32_t a = off[r], b = off[r + 1];
        long long q = -1;
        if (a >= 0 && b <= dv.len && b - a > 4 && memcmp(d + a, "[ 0.", 4) == 0) {
            q = 0;
            for (int32_t k = a + 4; k < b && d[k] != ']'; k++) {
                if (d[k] < '0' || d[k] > '9' || q > (1LL << 50)) { q = -1; break; }
                q = q * 10 + (d[k] - '0');
            }
        }
        int64_t s = -1;
        int32_t w = -1;
        if (q >= seq0 && q < seq0 + nb && index[q - seq0] >= 0) {
            PyObject *key = PyLong_FromLongLong(q);
            int in = key ? PyDict_Contains(tab, key) : -1;
            Py_XDECREF(key);
            if (in < 0) { err = 1; break; }
            if (!in) { s = q - seq0; w = index[s]; }
        }
        if (s < 0) {
            PyObject *t = Py_BuildValue("(nL)", r, q);
            if (!t || PyList_Append(slow, t)) { Py_XDECREF(t); err = 1; break; }
            Py_DECREF(t);
        }
        if (buf_put(&sel, &s, 8) || buf_put(&who, &w, 4)) err = 1;
    }
    if (!err) res = Py_BuildValue("(NNO)", bytes_of(&sel), bytes_of(&who), slow);
    else if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad rows");
    buf_free(&sel);
    buf_free(&who);
    Py_XDECREF(slow);
    PyBuffer_Release(&ov);
    PyBuffer_Release(&dv);
    PyBuffer_Release(&iv);
    return res;
}

/* canon(line) -> bytes | None: canon_into of one line (None: ask orjson) */
static PyObject *canon(PyObject *self, PyObject *args) {
    Py_buffer view;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    JKV *kv = malloc(sizeof(JKV) * J_CAP);
    Buf b = {0};
    int r = kv ? canon_into(&b, (const unsigned char *)view.buf, (size_t)view.len, kv) : -1;
    PyObject *res = r == 0 ? bytes_of(&b) : r == 1 ? (Py_INCREF(Py_None), Py_None) : PyErr_NoMemory();
    free(kv);
    buf_free(&b);
    PyBuffer_Release(&view);
    return res;
}

/* canon_rows(buf, starts, lens, sel, extra) -> (data, int32 offsets) | None: the binary
 * column of canon() of each row: sel[i] >= 0 is line sel[i] of buf (starts/lens: int64),
 * -1 the next line of extra; None when a line is not one canon reads */
static PyObject *canon_rows(PyObject *self, PyObject *args) {
    Py_buffer bv, sv, lv, qv;
    PyObject *extra;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*O!", &bv, &sv, &lv, &qv, &PyList_Type, &extra)) return NULL;
    const unsigned char *buf = bv.buf;
    const int64_t *st = sv.buf, *ln = lv.buf, *sel = qv.buf;
    Py_ssize_t nl = sv.len / 8, rows = qv.len / 8, xi = 0;
    Buf data = {0}, offs = {0};
    JKV *kv = malloc(sizeof(JKV) * J_CAP);
    PyObject *res = NULL;
    int r = kv ? 0 : -1;
    int32_t o = 0;
    if (!r) r = buf_put(&offs, &o, 4);
    if (!r) { /* canon() is never longer than its line: one allocation */
        size_t total = 0;
        for (Py_ssize_t i = 0; i < rows; i++)
            if (sel[i] >= 0 && sel[i] < nl) total += (size_t)ln[sel[i]];
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(extra); i++) {
            PyObject *x = PyList_GET_ITEM(extra, i);
            if (PyBytes_Check(x)) total += (size_t)PyBytes_GET_SIZE(x);
        }
        r = buf_reserve(&data, total + 64) || buf_reserve(&offs, (size_t)rows * 4 + 4) ? -1 : 0;
    }
    for (Py_ssize_t i = 0; i < rows && !r; i++) {
        const unsigned char *p;
        size_t n;
        if (sel[i] >= 0) {
            if (sel[i] >= nl || st[sel[i]] < 0 || st[sel[i]] + ln[sel[i]] > bv.len) { r = 1; break; }
            p = buf + st[sel[i]];
            n = (size_t)ln[sel[i]];
        } else {
            if (xi >= PyList_GET_SIZE(extra)) { r = 1; break; }
            PyObject *x = PyList_GET_ITEM(extra, xi++);
            if (!PyBytes_Check(x)) { r = 1; break; }
            p = (const unsigned char *)PyBytes_AS_STRING(x);
            n = (size_t)PyBytes_GET_SIZE(x);
        }
        r = canon_into(&data, p, n, kv);
        if (!r && data.n > INT32_MAX) r = 1;
        o = (int32_t)data.n;
        if (!r) r = buf_put(&offs, &o, 4);
    }
    if (r == 0) res = Py_BuildValue("(NN)", bytes_of(&data), bytes_of(&offs));
    else if (r == 1) { res = Py_None; Py_INCREF(res); }
    else PyErr_NoMemory();
    free(kv);
    buf_free(&data);
    buf_free(&offs);
    PyBuffer_Release(&bv);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&lv);
    PyBuffer_Release(&qv);
    return res;
}

/* has_binary(buf) -> bool: whether buf holds a byte is_binary() judges binary (a control
 * byte other than \t \n \r ESC GS). The stream asks it before cutting a chunk at the
 * junk report marks: the common chunk holds none and goes to scan() whole. */
static PyObject *has_binary(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *s = (const unsigned char *)b.buf;
    size_t n = (size_t)b.len, i = 0;
    int found = 0;
    Py_BEGIN_ALLOW_THREADS
#ifdef __SSE2__
    const __m128i top = _mm_set1_epi8(0x1f), ht = _mm_set1_epi8('\t'), lf = _mm_set1_epi8('\n'),
                  cr = _mm_set1_epi8('\r'), esc = _mm_set1_epi8(0x1b), gs = _mm_set1_epi8(0x1d);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, top), v); /* v <= 0x1f */
        __m128i ok = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, ht), _mm_cmpeq_epi8(v, lf)),
            _mm_or_si128(_mm_cmpeq_epi8(v, cr),
                         _mm_or_si128(_mm_cmpeq_epi8(v, esc), _mm_cmpeq_epi8(v, gs))));
        if (_mm_movemask_epi8(_mm_andnot_si128(ok, ctl))) {
            found = 1;
            break;
        }
    }
#endif
    if (!found) found = is_binary(s + i, n - i);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&b);
    return PyBool_FromLong(found);
}

static PyMethodDef METHODS[] = {
    {"has_binary", has_binary, METH_O,
     "has_binary(buf) -> bool: whether buf holds a control byte other than TAB LF CR ESC GS."},
    {"scan", scan, METH_VARARGS,
     "scan(head, data, start, end, final, prev_max_ts, window_ms[, flags, daemon_from, ncarry, "
     "year]) -> dict: one pass over complete audit.log / kernel-log / journal-short lines; see "
     "parsers/fast.py."},
    {"journal", journal, METH_VARARGS,
     "journal(data, start, end, seq, nodes, max_nodes, host, machine_id, boot_id, max_line"
     "[, cont, prefix]) -> (lines, entries, starts, lens, ident_index, idents, deferred) | None: journald JSON "
     "entries as scanner lines (None: a line may continue a USER_AVC); see fast.JournalLines."},
    {"canon", canon, METH_VARARGS,
     "canon(line) -> bytes | None: the entry with its keys sorted, as orjson writes it."},
    {"journal_rows", journal_rows, METH_VARARGS,
     "journal_rows(offsets, data, rows, seq0, entries, index, tab) -> (sel, who, slow): the "
     "entries of scanned rows; see fast.JournalLines.stamp."},
    {"canon_rows", canon_rows, METH_VARARGS,
     "canon_rows(buf, starts, lens, sel, extra) -> (data, offsets) | None: canon() of many "
     "lines as a binary column."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_fastscan",
                                    "C hot loop of the audit.log parser.", -1, METHODS};

PyMODINIT_FUNC PyInit__fastscan(void) {
    init_hexv();
    init_classes();
    if (PyType_Ready(&OwnedType) < 0) return NULL;
    return PyModule_Create(&MODULE);
}
