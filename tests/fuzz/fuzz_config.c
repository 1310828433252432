/*
 * fuzz_config.c - libFuzzer target for the configuration parsers: the
 * server.properties reader (gr_config_load_file: comments, continuation
 * lines, key=value / key:value / key value) and gr_config_set on one
 * key=value pair, then the derived values main.c computes from a loaded
 * configuration.
 *
 * Input: a server.properties file.  Its first line, split at the first
 * '=', is also given to gr_config_set directly.
 */
#include "fuzz.h"

#include "config.h"

static char cfg_path[300];

static void cfg_visit(void *arg, const char *key, const char *value, bool is_default)
{
    size_t *n = arg;
    FUZZ_CHECK(key && *key);
    *n += (value ? strlen(value) : 0) + (is_default ? 0 : 1);
}

static void cfg_derived(const gr_config_t *c)
{
    size_t n = 0;
    FUZZ_CHECK(gr_config_foreach(c, cfg_visit, &n) > 0);
    (void)gr_config_retention_ms(c);
    (void)gr_config_roll_ms(c);
    gr_log_config_t lc;
    gr_config_log_config(c, NULL, &lc);
}

int fuzz_config_one(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (!cfg_path[0])
        snprintf(cfg_path, sizeof(cfg_path), "%s/server.properties", fuzz_tmpdir());
    char err[512];

    gr_config_t c;
    gr_config_init(&c);
    fuzz_write_file(cfg_path, data, size);
    int rc = gr_config_load_file(&c, cfg_path, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || (rc < 0 && err[0] != '\0'));
    FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    cfg_derived(&c);
    gr_config_free(&c);

    /* the first line as one key=value (as --override passes it) */
    size_t line = 0;
    while (line < size && data[line] != '\n')
        line++;
    char *kv = gr_malloc(line + 1);
    memcpy(kv, data, line);
    kv[line] = '\0';
    char *eq = strchr(kv, '=');
    if (eq) {
        *eq = '\0';
        gr_config_init(&c);
        err[0] = '\0';
        rc = gr_config_set(&c, kv, eq + 1, err, sizeof(err));
        FUZZ_CHECK(rc == 0 || rc == GR_ENOENT || rc == GR_EINVAL);
        FUZZ_CHECK(rc == 0 || err[0] != '\0');
        cfg_derived(&c);
        gr_config_free(&c);
    }
    free(kv);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_config_one(data, size);
}
#endif
