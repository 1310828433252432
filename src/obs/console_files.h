/*
 * console_files.h - the web console's static files (src/obs/console/), built
 * into the binary by tools/embed.c (a generated C file in the build dir).
 */
#ifndef GR_CONSOLE_FILES_H
#define GR_CONSOLE_FILES_H

#include <stddef.h>

typedef struct gr_console_file {
    const char *name;               /* base name: "index.html" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} gr_console_file_t;

/* Ended by an entry whose name is NULL. */
extern const gr_console_file_t gr_console_files[];

#endif
