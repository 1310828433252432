/*
 * logmove.c - see logmove.h.
 */
#include "logmove.h"
#include "kerr.h"

bool gr_logmove_status(const gr_partition_t *p, gr_logmove_status_t *st)
{
    GR_UNUSED(p);
    GR_UNUSED(st);
    return false;
}

int16_t gr_logmove_start(gr_partition_t *p, int dest)
{
    GR_UNUSED(p);
    GR_UNUSED(dest);
    return KERR_KAFKA_STORAGE_ERROR;
}

void gr_logmove_cancel(gr_partition_t *p, bool remove_future)
{
    GR_UNUSED(p);
    GR_UNUSED(remove_future);
}

void gr_logmove_recover_dirs(void) {}
void gr_logmove_resume_all(void) {}
