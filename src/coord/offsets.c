/*
 * offsets.c - the per-group committed offset map (see offsets.h).
 *
 * A gr_hmap (hmap.h) keyed by (topic, partition): it starts with 4 buckets
 * (most groups hold a few offsets, and 100,000s of groups are a normal
 * load), doubles at load factor 1 (replaying a million commit records at
 * startup stays O(n)) and halves when removals leave it a quarter full.
 * Each entry is one allocation holding its strings.  No I/O here: the
 * entries change only through the coordinator's replay of
 * __consumer_offsets records (coord.c).
 */
#include "offsets.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_BUCKETS 4u

static uint32_t key_hash(const char *topic, size_t tlen, int32_t partition)
{
    uint64_t h = gr_fnv1a64(topic, tlen, GR_FNV64_INIT);
    return gr_hash_mix(h ^ (uint64_t)(uint32_t)partition * 0x9e3779b97f4a7c15ull);
}

gr_offset_map_t *gr_offset_map_new(void)
{
    gr_offset_map_t *m = gr_calloc(1, sizeof(*m));
    gr_hmap_init(&m->h, INITIAL_BUCKETS);
    return m;
}

/* A new entry for the key with room for mlen bytes of metadata. */
static gr_offset_t *entry_new(const char *topic, size_t tlen, int32_t partition, size_t mlen)
{
    assert(tlen < UINT32_MAX && mlen < UINT32_MAX);    /* the lengths are kept in 32 bits */
    gr_offset_t *e = gr_malloc(sizeof(*e) + tlen + 1 + mlen + 1);
    memset(&e->node, 0, sizeof(e->node));
    e->partition = partition;
    e->topic_len = (uint32_t)tlen;
    e->topic = e->s;
    memcpy(e->topic, topic, tlen);
    e->topic[tlen] = '\0';
    e->metadata = e->topic + tlen + 1;
    e->metadata_cap = (uint32_t)(mlen + 1);
    return e;
}

void gr_offset_map_free(gr_offset_map_t *m)
{
    if (!m)
        return;
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &m->h);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));)
        free(GR_CONTAINER(n, gr_offset_t, node));
    gr_hmap_free(&m->h);
    free(m);
}

static gr_offset_t *find(const gr_offset_map_t *m, const char *topic, size_t tlen, int32_t partition, uint32_t h)
{
    for (gr_hnode_t *n = gr_hmap_first(&m->h, h); n; n = gr_hmap_next(n)) {
        gr_offset_t *e = GR_CONTAINER(n, gr_offset_t, node);
        if (e->partition == partition && e->topic_len == tlen && !memcmp(e->topic, topic, tlen))
            return e;
    }
    return NULL;
}

gr_offset_t *gr_offset_get(const gr_offset_map_t *m, const char *topic, size_t tlen, int32_t partition)
{
    if (!m || gr_hmap_count(&m->h) == 0)
        return NULL;
    return find(m, topic, tlen, partition, key_hash(topic, tlen, partition));
}

gr_offset_t *gr_offset_put(gr_offset_map_t *m, const char *topic, size_t tlen, int32_t partition, int64_t offset,
                           int32_t leader_epoch, const char *metadata, size_t mlen, int64_t commit_ts,
                           int64_t expire_ts, int64_t *prev_offset)
{
    assert(m);                      /* gr_offsets_of makes it */
    uint32_t h = key_hash(topic, tlen, partition);
    gr_offset_t *e = find(m, topic, tlen, partition, h);
    if (!metadata)
        mlen = 0;
    if (e) {
        if (prev_offset)
            *prev_offset = e->offset;
        if (mlen >= e->metadata_cap) {
            /* longer metadata: a new entry takes its place in the chain */
            gr_offset_t *n = entry_new(topic, tlen, partition, mlen);
            gr_hmap_replace(&m->h, &e->node, &n->node);
            free(e);
            e = n;
        }
    } else {
        if (prev_offset)
            *prev_offset = -1;
        e = entry_new(topic, tlen, partition, mlen);
        gr_hmap_insert(&m->h, &e->node, h);
    }
    assert(mlen < e->metadata_cap && e->metadata == e->topic + tlen + 1);
    e->offset = offset;
    e->leader_epoch = leader_epoch;
    if (mlen)
        memcpy(e->metadata, metadata, mlen);
    e->metadata[mlen] = '\0';
    e->commit_timestamp = commit_ts;
    e->expire_timestamp = expire_ts;
    return e;
}

bool gr_offset_remove(gr_offset_map_t *m, const char *topic, size_t tlen, int32_t partition)
{
    gr_offset_t *e = gr_offset_get(m, topic, tlen, partition);
    if (!e)
        return false;
    gr_hmap_remove(&m->h, &e->node);
    free(e);
    return true;
}

void gr_offset_iter_init(gr_offset_iter_t *it, gr_offset_map_t *m)
{
    it->m = m;
    it->cur = NULL;
    it->removed = false;
    if (m)
        gr_hmap_iter_init(&it->it, &m->h);
}

gr_offset_t *gr_offset_iter_next(gr_offset_iter_t *it)
{
    if (!it->m)
        return NULL;
    gr_hnode_t *n = gr_hmap_iter_next(&it->it);
    it->cur = n ? GR_CONTAINER(n, gr_offset_t, node) : NULL;
    if (!n && it->removed) {
        gr_hmap_compact(&it->m->h);
        it->removed = false;
    }
    return it->cur;
}

void gr_offset_iter_remove(gr_offset_iter_t *it)
{
    gr_offset_t *e = it->cur;
    if (!e)
        return;
    assert(it->m);
    gr_hmap_remove_keep(&it->m->h, &e->node);
    free(e);
    it->cur = NULL;
    it->removed = true;
}

gr_offset_map_t *gr_offsets_of(gr_group_t *g)
{
    if (!g->offsets)
        g->offsets = gr_offset_map_new();
    return g->offsets;
}

void gr_offsets_group_free(gr_group_t *g)
{
    gr_offset_map_free(g->offsets);
    g->offsets = NULL;
}
