/*
 * offsets.c - the per-group committed offset map (see offsets.h).
 *
 * Chained hash table keyed by (topic, partition), FNV-1a over the topic
 * mixed with the partition; it doubles when the load factor reaches 1, so
 * replaying a million commit records at startup stays O(n), and halves
 * when removals leave it a quarter full.  It starts with 4 buckets: most
 * groups hold a few offsets, and 100,000s of groups are a normal load.
 * Each entry is one allocation holding its strings.  No I/O here: coord.c
 * persists.
 */
#include "offsets.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_BUCKETS 4u

static uint32_t key_hash(const char *topic, size_t tlen, int32_t partition)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < tlen; i++) {
        h ^= (uint8_t)topic[i];
        h *= 16777619u;
    }
    h ^= (uint32_t)partition * 0x9e3779b1u;
    h ^= h >> 15;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

gr_offset_map_t *gr_offset_map_new(void)
{
    gr_offset_map_t *m = gr_calloc(1, sizeof(*m));
    m->nbuckets = INITIAL_BUCKETS;
    m->buckets = gr_calloc(m->nbuckets, sizeof(*m->buckets));
    return m;
}

static void entry_free(gr_offset_t *e)
{
    free(e);
}

/* A new entry for the key with room for mlen bytes of metadata. */
static gr_offset_t *entry_new(const char *topic, size_t tlen, int32_t partition, uint32_t h, size_t mlen)
{
    gr_offset_t *e = gr_malloc(sizeof(*e) + tlen + 1 + mlen + 1);
    e->hnext = NULL;
    e->hash = h;
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
    for (uint32_t b = 0; b < m->nbuckets; b++) {
        gr_offset_t *e = m->buckets[b];
        while (e) {
            gr_offset_t *n = e->hnext;
            entry_free(e);
            e = n;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    free(m);
}

static gr_offset_t **find_slot(const gr_offset_map_t *m, const char *topic, size_t tlen, int32_t partition,
                               uint32_t h)
{
    gr_offset_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->hnext) {
        gr_offset_t *e = *pp;
        if (e->hash == h && e->partition == partition && e->topic_len == tlen && !memcmp(e->topic, topic, tlen))
            return pp;
    }
    return pp;
}

gr_offset_t *gr_offset_get(const gr_offset_map_t *m, const char *topic, size_t tlen, int32_t partition)
{
    if (!m || m->count == 0)
        return NULL;
    return *find_slot(m, topic, tlen, partition, key_hash(topic, tlen, partition));
}

static void rehash(gr_offset_map_t *m, uint32_t nb)
{
    gr_offset_t **nbk = gr_calloc(nb, sizeof(*nbk));
    for (uint32_t b = 0; b < m->nbuckets; b++) {
        gr_offset_t *e = m->buckets[b];
        while (e) {
            gr_offset_t *n = e->hnext;
            uint32_t i = e->hash & (nb - 1);
            e->hnext = nbk[i];
            nbk[i] = e;
            e = n;
        }
    }
    free(m->buckets);
    m->buckets = nbk;
    m->nbuckets = nb;
}

gr_offset_t *gr_offset_put(gr_offset_map_t *m, const char *topic, size_t tlen, int32_t partition, int64_t offset,
                           int32_t leader_epoch, const char *metadata, size_t mlen, int64_t commit_ts,
                           int64_t expire_ts, int64_t *prev_offset)
{
    uint32_t h = key_hash(topic, tlen, partition);
    gr_offset_t **pp = find_slot(m, topic, tlen, partition, h);
    gr_offset_t *e = *pp;
    if (!metadata)
        mlen = 0;
    if (e) {
        if (prev_offset)
            *prev_offset = e->offset;
        if (mlen >= e->metadata_cap) {
            /* longer metadata: a new entry takes its place in the chain */
            gr_offset_t *n = entry_new(topic, tlen, partition, h, mlen);
            n->hnext = e->hnext;
            *pp = n;
            entry_free(e);
            e = n;
        }
    } else {
        if (prev_offset)
            *prev_offset = -1;
        if (m->count >= m->nbuckets) {
            rehash(m, m->nbuckets * 2);
            pp = find_slot(m, topic, tlen, partition, h);
        }
        e = entry_new(topic, tlen, partition, h, mlen);
        *pp = e;
        m->count++;
    }
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
    if (!m || m->count == 0)
        return false;
    gr_offset_t **pp = find_slot(m, topic, tlen, partition, key_hash(topic, tlen, partition));
    gr_offset_t *e = *pp;
    if (!e)
        return false;
    *pp = e->hnext;
    entry_free(e);
    m->count--;
    if (m->nbuckets > INITIAL_BUCKETS && m->count < m->nbuckets / 4)
        rehash(m, m->nbuckets / 2);
    return true;
}

void gr_offset_iter_init(gr_offset_iter_t *it, gr_offset_map_t *m)
{
    it->m = m;
    it->bucket = 0;
    it->cur = NULL;
    it->next = m && m->nbuckets ? m->buckets[0] : NULL;
}

gr_offset_t *gr_offset_iter_next(gr_offset_iter_t *it)
{
    if (!it->m)
        return NULL;
    while (!it->next) {
        if (++it->bucket >= it->m->nbuckets) {
            it->cur = NULL;
            return NULL;
        }
        it->next = it->m->buckets[it->bucket];
    }
    it->cur = it->next;
    it->next = it->cur->hnext;
    return it->cur;
}

void gr_offset_iter_remove(gr_offset_iter_t *it)
{
    gr_offset_t *e = it->cur;
    if (!e)
        return;
    gr_offset_t **pp = &it->m->buckets[e->hash & (it->m->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    entry_free(e);
    it->m->count--;
    it->cur = NULL;
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
