/*
 * hmap.c - the intrusive chained hash map (see hmap.h).
 */
#include "hmap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static uint32_t pow2_at_least(uint64_t n)
{
    uint32_t p = 1;
    while (p < n && p < (1u << 31))
        p <<= 1;
    return p;
}

void gr_hmap_init(gr_hmap_t *m, uint32_t min_buckets)
{
    memset(m, 0, sizeof(*m));
    m->min_nb = pow2_at_least(min_buckets ? min_buckets : 1);
}

void gr_hmap_init_fixed(gr_hmap_t *m, gr_hnode_t **buckets, uint32_t n)
{
    assert(n > 0 && (n & (n - 1)) == 0);
    memset(m, 0, sizeof(*m));
    m->b = buckets;
    m->nb = m->min_nb = n;
    m->fixed = true;
}

void gr_hmap_free(gr_hmap_t *m)
{
    if (!m->fixed) {
        free(m->b);
        m->b = NULL;
        m->nb = 0;
    } else {
        memset(m->b, 0, sizeof(*m->b) * m->nb);
    }
    m->count = 0;
}

static void rehash(gr_hmap_t *m, uint32_t nb)
{
    assert(!m->fixed);
    gr_hnode_t **b = gr_calloc(nb, sizeof(*b));
    for (uint32_t i = 0; i < m->nb; i++) {
        gr_hnode_t *n = m->b[i];
        while (n) {
            gr_hnode_t *next = n->next;
            gr_hnode_t **slot = &b[n->hash & (nb - 1)];
            n->next = *slot;
            *slot = n;
            n = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

void gr_hmap_insert(gr_hmap_t *m, gr_hnode_t *n, uint32_t h)
{
    if (!m->b)
        rehash(m, m->min_nb);
    else if (m->count >= m->nb && !m->fixed && m->nb < (1u << 31))
        rehash(m, m->nb * 2);
    gr_hnode_t **slot = &m->b[h & (m->nb - 1)];
    n->hash = h;
    n->next = *slot;
    *slot = n;
    m->count++;
}

static gr_hnode_t **slot_of(const gr_hmap_t *m, const gr_hnode_t *n)
{
    gr_hnode_t **pp = &m->b[n->hash & (m->nb - 1)];
    while (*pp != n) {
        assert(*pp);                /* n is in the map */
        pp = &(*pp)->next;
    }
    return pp;
}

void gr_hmap_remove_keep(gr_hmap_t *m, gr_hnode_t *n)
{
    assert(m->count > 0);
    gr_hnode_t **pp = slot_of(m, n);
    *pp = n->next;
    n->next = NULL;
    m->count--;
}

void gr_hmap_compact(gr_hmap_t *m)
{
    if (m->fixed || !m->b)
        return;
    if (m->count == 0 && m->nb == m->min_nb) {
        /* an empty map holds no memory */
        free(m->b);
        m->b = NULL;
        m->nb = 0;
        return;
    }
    uint32_t nb = m->nb;
    while (nb > m->min_nb && m->count < nb / 4)
        nb /= 2;
    if (nb != m->nb)
        rehash(m, nb);
}

void gr_hmap_remove(gr_hmap_t *m, gr_hnode_t *n)
{
    gr_hmap_remove_keep(m, n);
    if (!m->fixed && m->nb > m->min_nb && m->count < m->nb / 4)
        rehash(m, m->nb / 2);
}

void gr_hmap_replace(gr_hmap_t *m, gr_hnode_t *old, gr_hnode_t *n)
{
    gr_hnode_t **pp = slot_of(m, old);
    n->hash = old->hash;
    n->next = old->next;
    *pp = n;
    old->next = NULL;
}

gr_hnode_t *gr_hmap_after(const gr_hmap_t *m, const gr_hnode_t *n)
{
    uint32_t i = 0;
    if (n) {
        if (n->next)
            return n->next;
        i = (n->hash & (m->nb - 1)) + 1;
    }
    if (m->count == 0)
        return NULL;
    for (; i < m->nb; i++)
        if (m->b[i])
            return m->b[i];
    return NULL;
}

uint32_t gr_hmap_buckets_for(const gr_hmap_t *m, size_t entries)
{
    if (m->fixed)
        return m->nb;
    uint32_t nb = m->nb ? m->nb : m->min_nb;
    while (nb < entries && nb < (1u << 31))
        nb *= 2;
    return nb;
}
