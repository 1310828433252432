/*
 * common.c - option parsing, librdkafka configuration and error output
 * shared by every gregor subcommand (see cli.h).
 */
#include "cli.h"
#include "jstr.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char **esc_copies;
static size_t nesc;

static void esc_free(void)
{
    for (size_t i = 0; i < nesc; i++)
        free(esc_copies[i]);
    free(esc_copies);
    esc_copies = NULL;
    nesc = 0;
}

const char *cli_esc(const char *s, int flags)
{
    if (!s)
        return NULL;
    size_t n = strlen(s), need = gr_jstr_escape(s, n, flags, NULL, 0);
    if (need == n)                  /* escaping only ever grows what it changes */
        return s;
    char *e = gr_malloc(need + 1), **l = gr_realloc(esc_copies, (nesc + 1) * sizeof(char *));
    if (!esc_copies)
        atexit(esc_free);
    esc_copies = l;
    esc_copies[nesc++] = e;
    gr_jstr_escape(s, n, flags, e, need + 1);
    return e;
}

void cli_verr(const char *fmt, va_list ap)
{
    fputs("Error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_verr(fmt, ap);
    va_end(ap);
}

static const cli_optdef_t *find_def(const cli_optdef_t *defs, const char *name, size_t len)
{
    for (; defs->name; defs++)
        if (strlen(defs->name) == len && !strncmp(defs->name, name, len))
            return defs;
    return NULL;
}

int cli_parse(int argc, char **argv, const cli_optdef_t *defs, cli_opts_t *out)
{
    out->v = gr_calloc((size_t)argc + 1, sizeof(cli_opt_t));
    out->n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) || !a[2]) {
            cli_err("unexpected argument '%s' (options start with --)", a);
            goto err;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_optdef_t *d = find_def(defs, name, len);
        if (!d) {
            cli_err("%.*s is not a recognized option", (int)(len + 2), a);
            goto err;
        }
        const char *value = NULL;
        if (eq) {
            if (!d->has_arg) {
                cli_err("Option --%s takes no value", d->name);
                goto err;
            }
            value = eq + 1;
        } else if (d->has_arg) {
            bool next_is_value = i + 1 < argc && (strncmp(argv[i + 1], "--", 2) || !argv[i + 1][2]);
            /* negative numbers (--shift-by -5) are values, not options */
            if (i + 1 < argc && argv[i + 1][0] == '-' && argv[i + 1][1] != '-')
                next_is_value = true;
            if (next_is_value) {
                value = argv[++i];
            } else if (!d->optional_arg) {
                cli_err("Option --%s requires an argument", d->name);
                goto err;
            }
        }
        out->v[out->n].name = d->name;
        out->v[out->n].value = value;
        out->n++;
    }
    return 0;
err:
    cli_opts_free(out);
    return -1;
}

void cli_opts_free(cli_opts_t *o)
{
    free(o->v);
    o->v = NULL;
    o->n = 0;
}

bool cli_has(const cli_opts_t *o, const char *name)
{
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->v[i].name, name))
            return true;
    return false;
}

const char *cli_get(const cli_opts_t *o, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->v[i].name, name))
            v = o->v[i].value;
    return v;
}

int cli_count_given(const cli_opts_t *o, const char *const *names)
{
    int n = 0;
    for (; *names; names++)
        n += cli_has(o, *names);
    return n;
}

int cli_invalid_with(const cli_opts_t *o, const char *used, const char *const *invalid)
{
    if (!cli_has(o, used))
        return 0;
    for (; *invalid; invalid++)
        if (strcmp(*invalid, used) && cli_has(o, *invalid)) {
            cli_err("Option \"[%s]\" can't be used with option \"[%s]\"", used, *invalid);
            return -1;
        }
    return 0;
}

int cli_get_all(const cli_opts_t *o, const char *name, const char ***vals)
{
    int n = 0;
    *vals = gr_calloc((size_t)o->n + 1, sizeof(char *));
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->v[i].name, name) && o->v[i].value)
            (*vals)[n++] = o->v[i].value;
    return n;
}

char *cli_include_regex(const char *raw)
{
    size_t n = strlen(raw);
    char *p = gr_malloc(n + 8), *w = p;
    w += sprintf(w, "^(");
    const char *s = raw, *e = raw + n;
    while (s < e && (*s == '"' || *s == '\'' || isspace((unsigned char)*s)))
        s++;
    while (e > s && (e[-1] == '"' || e[-1] == '\'' || isspace((unsigned char)e[-1])))
        e--;
    for (; s < e; s++)
        if (*s != ' ')
            *w++ = *s == ',' ? '|' : *s;
    strcpy(w, ")$");
    return p;
}

int cli_partition_list(const char *s, bool trailing_comma, int32_t *ids, int *n, const char **bad, size_t *badlen)
{
    *n = 0;
    for (const char *p = s;;) {
        size_t len = strcspn(p, ",");
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (!len || end != p + len || errno || v < INT32_MIN || v > INT32_MAX) {
            *bad = p;
            *badlen = len;
            return -1;
        }
        ids[(*n)++] = (int32_t)v;
        if (!p[len] || (trailing_comma && !p[len + 1]))
            return 0;
        p += len + 1;
    }
}

void cli_usage(FILE *out, const char *cmd, const char *summary, const cli_optdef_t *defs)
{
    fprintf(out, "Usage: gregor %s [options]\n%s\n\nOption                                   Description\n"
                 "------                                   -----------\n", cmd, summary);
    for (; defs->name; defs++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s%s", defs->name,
                 defs->has_arg ? (defs->optional_arg ? " [value]" : " <value>") : "");
        fprintf(out, "%-40s %s\n", left, defs->help ? defs->help : "");
    }
}

int cli_host_port(char *s, char **host, int *port)
{
    char *colon = strrchr(s, ':');
    if (!colon || !colon[1])
        return -1;
    *colon = 0;
    char *h = s;
    if (*h == '[' && colon > h + 1 && colon[-1] == ']') {
        h++;
        colon[-1] = 0;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p <= 0 || p > 65535)
        return -1;
    *host = h;
    *port = (int)p;
    return 0;
}

int cli_timeout_ms(const cli_opts_t *o)
{
    const char *t = cli_get(o, "timeout");
    if (!t)
        return 5000;
    char *end;
    long v = strtol(t, &end, 10);
    if (*end || v <= 0)
        return 5000;
    return (int)v;
}

static int load_props(rd_kafka_conf_t *conf, const char *path)
{
    cli_kv_t kv = {0};
    char errstr[512];
    int rc = cli_kv_file(&kv, path);
    for (int i = 0; rc == 0 && i < kv.n; i++)
        if (rd_kafka_conf_set(conf, kv.k[i], kv.v[i], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            cli_err("%s", errstr);
            rc = -1;
        }
    cli_kv_free(&kv);
    return rc;
}

rd_kafka_conf_t *cli_conf(const cli_opts_t *o, const char *const *extra)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *bs = cli_get(o, "bootstrap-server");
    if (!bs) {
        cli_err("Missing required argument \"[bootstrap-server]\"");
        goto err;
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bs, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        cli_err("%s", errstr);
        goto err;
    }
    const char *cc = cli_get(o, "command-config");
    if (cc && load_props(conf, cc) < 0)
        goto err;
    for (; extra && extra[0]; extra += 2)
        if (rd_kafka_conf_set(conf, extra[0], extra[1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            cli_err("%s", errstr);
            goto err;
        }
    return conf;
err:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)level, (void)fac, (void)buf;
}

void cli_conf_quiet(rd_kafka_conf_t *conf)
{
    char dbg[256];
    size_t dn = sizeof(dbg);
    if (rd_kafka_conf_get(conf, "debug", dbg, &dn) != RD_KAFKA_CONF_OK || !dbg[0])
        rd_kafka_conf_set_log_cb(conf, quiet_log);
}

rd_kafka_t *cli_client(const cli_opts_t *o, rd_kafka_type_t type, const char *const *extra)
{
    char errstr[512];
    rd_kafka_conf_t *conf = cli_conf(o, extra);
    if (!conf)
        return NULL;
    cli_conf_quiet(conf);
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        cli_err("%s", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* ---- key=value pairs from options and property files ---- */
void cli_kv_put(cli_kv_t *kv, const char *k, size_t kl, const char *v)
{
    for (int i = 0; i < kv->n; i++)
        if (strlen(kv->k[i]) == kl && !strncmp(kv->k[i], k, kl)) {
            free(kv->v[i]);
            kv->v[i] = gr_strdup(v);
            return;
        }
    if (kv->n == kv->cap) {
        kv->cap = kv->cap ? kv->cap * 2 : 16;
        kv->k = gr_realloc(kv->k, (size_t)kv->cap * sizeof(char *));
        kv->v = gr_realloc(kv->v, (size_t)kv->cap * sizeof(char *));
    }
    kv->k[kv->n] = gr_strndup(k, kl);
    kv->v[kv->n] = gr_strdup(v);
    kv->n++;
}

const char *cli_kv_get(const cli_kv_t *kv, const char *k)
{
    for (int i = 0; i < kv->n; i++)
        if (!strcmp(kv->k[i], k))
            return kv->v[i];
    return NULL;
}

void cli_kv_free(cli_kv_t *kv)
{
    for (int i = 0; i < kv->n; i++) {
        free(kv->k[i]);
        free(kv->v[i]);
    }
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof(*kv));
}

/* "k=v" (Kafka's parseKeyValueArgs: split at the first '='). */
int cli_kv_arg(cli_kv_t *kv, const char *a, const char *opt)
{
    const char *eq = strchr(a, '=');
    if (!eq) {
        cli_err("Invalid command line properties for --%s: '%s' (expected key=value)", opt, a);
        return -1;
    }
    cli_kv_put(kv, a, (size_t)(eq - a), eq + 1);
    return 0;
}

/* A Java properties file: "k=v" or "k: v" lines, '#'/'!' comments. */
int cli_kv_file(cli_kv_t *kv, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_err("cannot read properties file %s", path);
        return -1;
    }
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        char *s = line, *e;
        while (isspace((unsigned char)*s))
            s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (!*s || *s == '#' || *s == '!')
            continue;
        char *sep = s + strcspn(s, "=:");
        char *ke = sep;
        while (ke > s && isspace((unsigned char)ke[-1]))
            ke--;
        char *v = *sep ? sep + 1 : sep;
        while (isspace((unsigned char)*v))
            v++;
        cli_kv_put(kv, s, (size_t)(ke - s), v);
    }
    fclose(f);
    return 0;
}
