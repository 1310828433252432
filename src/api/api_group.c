/*
 * api_group.c - the classic group APIs: FindCoordinator (key 10, v0-6; the
 * share key type of v6 is INVALID_REQUEST, as from a Kafka without share
 * groups; the batched answer of v4+ has an empty ErrorMessage, as Kafka
 * leaves it at its default), JoinGroup (11, v0-9), Heartbeat (12, v0-4),
 * LeaveGroup (13, v0-5), SyncGroup (14, v0-5), DescribeGroups (15, v0-5),
 * ListGroups (16, v0-5: the type of every group, TypesFilter) and
 * DeleteGroups (42, v0-2).
 * Consumer groups (KIP-848, cgroup.h) are listed with their type and state,
 * described by DescribeGroups as Dead (they are not classic groups, as in
 * Kafka 4), deleted when empty; an empty consumer group that a JoinGroup
 * names is replaced by a classic group (its tombstones first); in one with
 * members, JoinGroup, SyncGroup, Heartbeat and LeaveGroup serve classic
 * members through cgroup.c (online migration).
 *
 * The handlers only translate between the wire (schema_gen.h) and the
 * coordinator's plain C entry points, shaping each response per version as
 * Kafka 3.7's KafkaApis / GroupCoordinatorAdapter do: every group id is
 * first validated by gr_coord_validate_group (coord.h: id, coordinator
 * loading), then the group state machine (group.h) runs the request, or,
 * for DeleteGroups, the coordinator's write (gr_coord_delete_group).  Every
 * string Kafka reads as a Java String (ids, protocol names, reasons) goes
 * in through cstr() and comes back out through ostr(): the held form of
 * jstr.h in between, so that ids are Kafka's Strings, NULs included.
 *
 * Parking: JoinGroup and SyncGroup keep a waiter in the request arena; the
 * coordinator answers it whenever the rebalance gets there (possibly
 * before gr_group_join/sync return).  If the connection closes first,
 * on_cancel detaches the waiter and the member keeps waiting as in Kafka.
 * DeleteGroups waits for the tombstones with a heap context, because the
 * coordinator's callbacks can outlive the request.
 */
#include "api_util.h"
#include "broker.h"
#include "cgroup.h"
#include "coord.h"
#include "group.h"
#include "kerr.h"
#include "txn.h"

#include <stdio.h>
#include <string.h>

/* A wire string in held form (jstr.h), in the arena; NULL for null. */
static const char *cstr(gr_req_t *req, gr_str_t s)
{
    return gr_req_held(req, s);
}

/* A held string (or a constant) as response bytes; null for NULL. */
static gr_str_t ostr(gr_req_t *req, const char *s)
{
    return gr_req_wire(req, s);
}

/* Kafka prints the client address as InetAddress.toString: "/127.0.0.1". */
const char *gr_req_client_host(gr_req_t *req)
{
    const char *peer = gr_req_peer(req);
    char buf[80];
    size_t n = strlen(peer);
    const char *colon = strrchr(peer, ':');
    if (peer[0] == '[') {
        const char *close = strchr(peer, ']');
        peer++;
        n = close ? (size_t)(close - peer) : strlen(peer);
    } else if (colon) {
        n = (size_t)(colon - peer);
    }
    snprintf(buf, sizeof(buf), "/%.*s", (int)GR_MIN(n, sizeof(buf) - 2), peer);
    return gr_arena_strndup(&req->arena, buf, strlen(buf));
}

static const char *error_message(gr_kerr_t err)
{
    switch (err) {
    case KERR_NONE: return "NONE";
    case KERR_COORDINATOR_NOT_AVAILABLE: return "The coordinator is not available.";
    case KERR_INVALID_REQUEST:
        return "This most likely occurs because of a request being malformed by the client library or the "
               "message was sent to an incompatible broker. See the broker logs for more details.";
    default: return gr_kerr_name(err);
    }
}

/* ------------------------------------------------------------ FindCoordinator */

static gr_kerr_t coordinator_for(int8_t key_type)
{
    switch (key_type) {
    case 0:
        return KERR_NONE;                        /* group: this broker */
    case 1:
        /* transaction: this broker, once __transaction_state exists (made
         * on the first ask, as Kafka makes its internal topics) */
        return gr_txn_ensure() == 0 ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE;
    default:
        return KERR_INVALID_REQUEST;
    }
}

void gr_api_find_coordinator(gr_req_t *req, gr_rd_t *body)
{
    gr_FindCoordinatorRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, FindCoordinatorRequest, &r);
    int16_t v = req->api_version;
    int8_t key_type = v >= 1 ? r.KeyType : 0;
    gr_str_t host = ostr(req, gr_broker.adv_host);

    gr_FindCoordinatorResponse_t resp;
    gr_FindCoordinatorResponse_init(&resp);
    if (v < 4) {
        gr_kerr_t err = coordinator_for(key_type);
        resp.ErrorCode = err;
        resp.ErrorMessage = ostr(req, error_message(err));
        resp.NodeId = err == KERR_NONE ? gr_broker.cfg.node_id : -1;
        resp.Host = err == KERR_NONE ? host : GR_STR("");
        resp.Port = err == KERR_NONE ? gr_broker.adv_port : -1;
    } else {
        int32_t n = GR_MAX(r.CoordinatorKeys_count, 0);
        resp.Coordinators = GR_ARENA_ARRAY(req, gr_FindCoordinatorResponse_Coordinator_t, n,
                                           gr_FindCoordinatorResponse_Coordinator_init);
        resp.Coordinators_count = n;
        for (int32_t i = 0; i < n; i++) {
            gr_FindCoordinatorResponse_Coordinator_t *c = &resp.Coordinators[i];
            gr_kerr_t err = coordinator_for(key_type);
            c->Key = ostr(req, cstr(req, r.CoordinatorKeys[i]));    /* Kafka echoes the String it read */
            c->ErrorCode = err;
            c->ErrorMessage = GR_STR("");      /* Kafka sets none: the field's default */
            c->NodeId = err == KERR_NONE ? gr_broker.cfg.node_id : -1;
            c->Host = err == KERR_NONE ? host : GR_STR("");
            c->Port = err == KERR_NONE ? gr_broker.adv_port : -1;
        }
    }
    GR_RESPOND(req, FindCoordinatorResponse, &resp);
}

/* ------------------------------------------------------------ JoinGroup */

typedef struct join_park {
    gr_join_waiter_t w;
    gr_req_t *req;
    bool answered;
} join_park_t;

static void join_done(gr_join_waiter_t *w, const gr_join_result_t *res)
{
    join_park_t *jp = w->arg;
    gr_req_t *req = jp->req;
    jp->answered = true;
    req->on_cancel = NULL;
    req->park = NULL;

    gr_JoinGroupResponse_t resp;
    gr_JoinGroupResponse_init(&resp);
    resp.ErrorCode = res->error;
    resp.GenerationId = res->generation_id;
    resp.ProtocolType = ostr(req, res->protocol_type);
    if (req->api_version >= 7)
        resp.ProtocolName = ostr(req, res->protocol_name);
    else
        resp.ProtocolName = ostr(req, res->protocol_name ? res->protocol_name : "");
    resp.Leader = ostr(req, res->leader_id ? res->leader_id : "");
    resp.SkipAssignment = res->skip_assignment;
    resp.MemberId = ostr(req, res->member_id ? res->member_id : "");
    if (res->include_members && res->group) {
        const gr_group_t *g = res->group;
        resp.Members = GR_ARENA_ARRAY(req, gr_JoinGroupResponse_JoinGroupResponseMember_t, g->nmembers,
                                      gr_JoinGroupResponse_JoinGroupResponseMember_init);
        int32_t i = 0;
        for (const gr_member_t *m = g->members; m && i < g->nmembers; m = m->next, i++) {
            gr_JoinGroupResponse_JoinGroupResponseMember_t *jm = &resp.Members[i];
            const gr_member_protocol_t *p = gr_member_protocol(m, res->protocol_name);
            jm->MemberId = ostr(req, m->member_id);
            jm->GroupInstanceId = ostr(req, m->group_instance_id);
            jm->Metadata = p ? (gr_bytes_t){p->metadata, p->metadata_len} : (gr_bytes_t){(const uint8_t *)"", 0};
        }
        resp.Members_count = i;
    }
    GR_RESPOND(req, JoinGroupResponse, &resp);
}

static void join_cancel(gr_req_t *req)
{
    join_park_t *jp = req->park;
    if (jp)
        gr_group_waiter_detach_join(&jp->w);
    req->park = NULL;
}

/* A classic member's JoinGroup into a consumer group with members (online
 * migration, cgroup.h): answered once the records it wrote are durable;
 * the park is on the heap, the join_park_t in the request's arena. */
typedef struct cjoin_park {
    gr_req_t *req;                  /* NULL once the connection went away */
    join_park_t *jp;
    char *proto;                    /* the protocol name answered: the member's first */
    char *member_id;
} cjoin_park_t;

static void cjoin_cancel(gr_req_t *req)
{
    cjoin_park_t *pk = req->park;
    if (pk)
        pk->req = NULL;
    req->park = NULL;
}

static void cjoin_done(void *arg, gr_cg_hb_result_t *res)
{
    cjoin_park_t *pk = arg;
    if (pk->req) {
        bool ok = res->error == KERR_NONE;
        gr_join_result_t jr = {
            .error = res->error,
            .member_id = ok && res->member_id ? res->member_id : pk->member_id,
            .generation_id = ok ? res->member_epoch : -1,
            .protocol_type = ok ? "consumer" : NULL,
            .protocol_name = ok ? pk->proto : NULL,
            .leader_id = "",
        };
        join_done(&pk->jp->w, &jr);
    }
    free(pk->proto);
    free(pk->member_id);
    free(pk);
}

static void join_consumer_group(gr_req_t *req, join_park_t *jp, const gr_join_params_t *p, gr_group_t *g)
{
    if (p->session_timeout_ms < gr_broker.cfg.group_min_session_timeout_ms ||
        p->session_timeout_ms > gr_broker.cfg.group_max_session_timeout_ms) {
        gr_join_result_t res = {.error = KERR_INVALID_SESSION_TIMEOUT, .member_id = p->member_id,
                                .generation_id = -1, .leader_id = ""};
        join_done(&jp->w, &res);
        return;
    }
    char *mid = NULL;
    gr_kerr_t err = gr_cgroup_classic_join_check(g, p->member_id, p->group_instance_id, p->protocol_type,
                                                 p->protocols, p->nprotocols, p->require_known_member_id, &mid);
    if (err != KERR_NONE) {
        gr_join_result_t res = {.error = err,
                                .member_id = err == KERR_MEMBER_ID_REQUIRED && mid ? mid
                                             : err == KERR_INCONSISTENT_GROUP_PROTOCOL ? "" : p->member_id,
                                .generation_id = -1, .leader_id = ""};
        join_done(&jp->w, &res);
        free(mid);
        return;
    }
    gr_cg_classic_t *cl = gr_arena_calloc(&req->arena, 1, sizeof(*cl));
    cl->session_timeout_ms = p->session_timeout_ms;
    cl->protocols = p->protocols;
    cl->nprotocols = p->nprotocols;
    cl->unknown_member = !p->member_id[0];
    gr_cg_hb_t hb = {
        .group_id = p->group_id,
        .member_id = mid,
        .instance_id = p->group_instance_id,
        .rebalance_timeout_ms = p->rebalance_timeout_ms,
        .client_id = p->client_id,
        .client_host = p->client_host,
        .classic = cl,
    };
    cjoin_park_t *pk = gr_calloc(1, sizeof(*pk));
    pk->req = req;
    pk->jp = jp;
    pk->proto = gr_strdup(p->protocols[0].name);
    pk->member_id = mid;
    req->park = pk;
    req->on_cancel = cjoin_cancel;
    gr_cgroup_heartbeat(&hb, cjoin_done, pk);
}

void gr_api_join_group(gr_req_t *req, gr_rd_t *body)
{
    gr_JoinGroupRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, JoinGroupRequest, &r);
    int16_t v = req->api_version;

    int32_t np = GR_MAX(r.Protocols_count, 0);
    gr_join_protocol_t *protos = gr_arena_calloc(&req->arena, (size_t)GR_MAX(np, 1), sizeof(*protos));
    for (int32_t i = 0; i < np; i++) {
        const char *name = cstr(req, r.Protocols[i].Name);
        protos[i].name = name ? name : "";
        protos[i].metadata = r.Protocols[i].Metadata.p;
        protos[i].metadata_len = GR_MAX(r.Protocols[i].Metadata.len, 0);
    }
    const char *group_id = cstr(req, r.GroupId);
    const char *member_id = cstr(req, r.MemberId);
    const char *instance_id = v >= 5 ? cstr(req, r.GroupInstanceId) : NULL;
    const char *ptype = cstr(req, r.ProtocolType);
    gr_join_params_t p = {
        .group_id = group_id ? group_id : "",
        .member_id = member_id ? member_id : "",
        .group_instance_id = instance_id,
        .client_id = req->client_id ? req->client_id : "",
        .client_host = gr_req_client_host(req),
        .session_timeout_ms = r.SessionTimeoutMs,
        .rebalance_timeout_ms = v >= 1 ? r.RebalanceTimeoutMs : r.SessionTimeoutMs,
        .protocol_type = ptype ? ptype : "",
        .protocols = protos,
        .nprotocols = np,
        .require_known_member_id = v >= 4 && !instance_id,
        .support_skip_assignment = v >= 9,
        .reason = v >= 8 ? cstr(req, r.Reason) : NULL,
    };
    join_park_t *jp = gr_arena_calloc(&req->arena, 1, sizeof(*jp));
    jp->w.done = join_done;
    jp->w.arg = jp;
    jp->req = req;
    gr_kerr_t err = gr_coord_validate_group(group_id, group_id ? strlen(group_id) : 0, GR_GROUP_API_JOIN);
    if (err != KERR_NONE) {
        gr_join_result_t res = {.error = err, .member_id = p.member_id, .generation_id = -1, .leader_id = ""};
        join_done(&jp->w, &res);
        return;
    }
    gr_group_t *cgg = gr_group_find(p.group_id, strlen(p.group_id));
    if (cgg && cgg->type == GR_GROUP_CONSUMER) {
        if (gr_cgroup_nmembers(cgg->cg) > 0) {
            /* a classic member of a consumer group (online migration) */
            join_consumer_group(req, jp, &p, cgg);
            return;
        }
        /* Kafka's maybeDeleteEmptyConsumerGroup: the empty consumer group
         * goes (its tombstones are replayed now), a classic group follows */
        gr_crt_result_t cr;
        gr_crt_result_init(&cr, gr_coord_rt(), gr_coord_partition_for(p.group_id, strlen(p.group_id)), 0);
        gr_cgroup_add_tombstones(&cr, cgg);
        gr_coord_write(&cr, NULL, NULL, "Tombstones of an empty consumer group");
    }
    gr_group_join(&p, &jp->w);
    if (!jp->answered) {
        req->park = jp;
        req->on_cancel = join_cancel;
    }
}

/* ------------------------------------------------------------ SyncGroup */

typedef struct sync_park {
    gr_sync_waiter_t w;
    gr_req_t *req;
    bool answered;
} sync_park_t;

static void sync_respond(gr_req_t *req, const gr_sync_result_t *res)
{
    gr_SyncGroupResponse_t resp;
    gr_SyncGroupResponse_init(&resp);
    resp.ErrorCode = res->error;
    resp.ProtocolType = ostr(req, res->protocol_type);
    resp.ProtocolName = ostr(req, res->protocol_name);
    resp.Assignment = res->assignment && res->assignment_len > 0
                          ? (gr_bytes_t){res->assignment, res->assignment_len}
                          : (gr_bytes_t){(const uint8_t *)"", 0};
    GR_RESPOND(req, SyncGroupResponse, &resp);
}

static void sync_done(gr_sync_waiter_t *w, const gr_sync_result_t *res)
{
    sync_park_t *sp = w->arg;
    gr_req_t *req = sp->req;
    sp->answered = true;
    req->on_cancel = NULL;
    req->park = NULL;
    sync_respond(req, res);
}

static void sync_cancel(gr_req_t *req)
{
    sync_park_t *sp = req->park;
    if (sp)
        gr_group_waiter_detach_sync(&sp->w);
    req->park = NULL;
}

void gr_api_sync_group(gr_req_t *req, gr_rd_t *body)
{
    gr_SyncGroupRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, SyncGroupRequest, &r);
    int16_t v = req->api_version;
    if (v >= 5 && (r.ProtocolType.len < 0 || r.ProtocolName.len < 0)) {
        /* mandatory from v5 */
        gr_sync_result_t res = {.error = KERR_INCONSISTENT_GROUP_PROTOCOL};
        sync_respond(req, &res);
        return;
    }
    int32_t na = GR_MAX(r.Assignments_count, 0);
    gr_sync_assignment_t *as = gr_arena_calloc(&req->arena, (size_t)GR_MAX(na, 1), sizeof(*as));
    for (int32_t i = 0; i < na; i++) {
        const char *mid = cstr(req, r.Assignments[i].MemberId);
        as[i].member_id = mid ? mid : "";
        as[i].assignment = r.Assignments[i].Assignment.p;
        as[i].assignment_len = GR_MAX(r.Assignments[i].Assignment.len, 0);
    }
    const char *group_id = cstr(req, r.GroupId);
    const char *member_id = cstr(req, r.MemberId);
    gr_sync_params_t p = {
        .group_id = group_id ? group_id : "",
        .generation_id = r.GenerationId,
        .member_id = member_id ? member_id : "",
        .group_instance_id = v >= 3 ? cstr(req, r.GroupInstanceId) : NULL,
        .protocol_type = v >= 5 ? cstr(req, r.ProtocolType) : NULL,
        .protocol_name = v >= 5 ? cstr(req, r.ProtocolName) : NULL,
        .assignments = as,
        .nassignments = na,
    };
    gr_kerr_t err = gr_coord_validate_group(group_id, group_id ? strlen(group_id) : 0, GR_GROUP_API_SYNC);
    if (err == KERR_COORDINATOR_LOAD_IN_PROGRESS)
        err = KERR_REBALANCE_IN_PROGRESS;   /* as Kafka: older clients do not expect the error */
    if (err != KERR_NONE) {
        gr_sync_result_t res = {.error = err};
        sync_respond(req, &res);
        return;
    }
    gr_group_t *cgg = gr_group_find(p.group_id, strlen(p.group_id));
    if (cgg && cgg->type == GR_GROUP_CONSUMER) {
        /* a classic member of a consumer group: its assignment as the
         * coordinator computed it */
        uint8_t *a = NULL;
        int32_t alen = 0;
        gr_sync_result_t res = {.error = gr_cgroup_classic_sync(cgg, p.member_id, p.group_instance_id,
                                                                p.generation_id, p.protocol_type, p.protocol_name,
                                                                &a, &alen)};
        if (res.error == KERR_NONE) {
            res.protocol_type = p.protocol_type;
            res.protocol_name = p.protocol_name;
            res.assignment = a;
            res.assignment_len = alen;
        }
        sync_respond(req, &res);
        free(a);
        return;
    }
    sync_park_t *sp = gr_arena_calloc(&req->arena, 1, sizeof(*sp));
    sp->w.done = sync_done;
    sp->w.arg = sp;
    sp->req = req;
    gr_group_sync(&p, &sp->w);
    if (!sp->answered) {
        req->park = sp;
        req->on_cancel = sync_cancel;
    }
}

/* ------------------------------------------------------------ Heartbeat */

void gr_api_heartbeat(gr_req_t *req, gr_rd_t *body)
{
    gr_HeartbeatRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, HeartbeatRequest, &r);
    const char *group_id = cstr(req, r.GroupId);
    const char *member_id = cstr(req, r.MemberId);
    gr_HeartbeatResponse_t resp;
    gr_HeartbeatResponse_init(&resp);
    resp.ErrorCode = gr_coord_validate_group(group_id, group_id ? strlen(group_id) : 0, GR_GROUP_API_HEARTBEAT);
    if (resp.ErrorCode == KERR_COORDINATOR_LOAD_IN_PROGRESS)
        resp.ErrorCode = KERR_NONE;         /* as Kafka: the group is still loading, answer blindly */
    else if (resp.ErrorCode == KERR_NONE) {
        const char *iid = req->api_version >= 3 ? cstr(req, r.GroupInstanceId) : NULL;
        gr_group_t *g = gr_group_find(group_id, strlen(group_id));
        if (g && g->type == GR_GROUP_CONSUMER)
            resp.ErrorCode = gr_cgroup_classic_heartbeat(g, member_id ? member_id : "", iid, r.GenerationId);
        else
            resp.ErrorCode = gr_group_heartbeat(group_id, member_id ? member_id : "", iid, r.GenerationId);
    }
    GR_RESPOND(req, HeartbeatResponse, &resp);
}

/* ------------------------------------------------------------ LeaveGroup */

static void leave_respond(gr_req_t *req, gr_kerr_t top, const gr_leave_member_t *lm, int32_t n)
{
    gr_LeaveGroupResponse_t resp;
    gr_LeaveGroupResponse_init(&resp);
    if (req->api_version <= 2) {
        /* the first member error stands for the request */
        resp.ErrorCode = top;
        for (int32_t i = 0; top == KERR_NONE && i < n; i++)
            if (lm[i].error != KERR_NONE) {
                resp.ErrorCode = lm[i].error;
                break;
            }
    } else {
        resp.ErrorCode = top;
        int32_t nm = top == KERR_NONE ? n : 0;
        resp.Members = GR_ARENA_ARRAY(req, gr_LeaveGroupResponse_MemberResponse_t, nm,
                                      gr_LeaveGroupResponse_MemberResponse_init);
        resp.Members_count = nm;
        for (int32_t i = 0; i < nm; i++) {
            resp.Members[i].MemberId = ostr(req, lm[i].member_id);
            resp.Members[i].GroupInstanceId = ostr(req, lm[i].group_instance_id);
            resp.Members[i].ErrorCode = lm[i].error;
        }
    }
    GR_RESPOND(req, LeaveGroupResponse, &resp);
}

/* Classic members leaving a consumer group: answered once the records are
 * durable (the members in the request's arena, the park on the heap). */
typedef struct leave_park {
    gr_req_t *req;                  /* NULL once the connection went away */
    gr_leave_member_t *lm;
    int32_t n;
} leave_park_t;

static void leave_cancel(gr_req_t *req)
{
    leave_park_t *pk = req->park;
    if (pk)
        pk->req = NULL;
    req->park = NULL;
}

static void leave_done(void *arg, gr_kerr_t err)
{
    leave_park_t *pk = arg;
    if (pk->req) {
        pk->req->on_cancel = NULL;
        pk->req->park = NULL;
        leave_respond(pk->req, err, pk->lm, pk->n);
    }
    free(pk);
}

void gr_api_leave_group(gr_req_t *req, gr_rd_t *body)
{
    gr_LeaveGroupRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, LeaveGroupRequest, &r);
    int16_t v = req->api_version;
    int32_t n = v >= 3 ? GR_MAX(r.Members_count, 0) : 1;
    gr_leave_member_t *lm = gr_arena_calloc(&req->arena, (size_t)GR_MAX(n, 1), sizeof(*lm));
    if (v >= 3) {
        for (int32_t i = 0; i < n; i++) {
            const char *mid = cstr(req, r.Members[i].MemberId);
            lm[i].member_id = mid ? mid : "";
            lm[i].group_instance_id = cstr(req, r.Members[i].GroupInstanceId);
            lm[i].reason = v >= 5 ? cstr(req, r.Members[i].Reason) : NULL;
        }
    } else {
        const char *mid = cstr(req, r.MemberId);
        lm[0].member_id = mid ? mid : "";
    }
    const char *group_id = cstr(req, r.GroupId);
    gr_kerr_t top = gr_coord_validate_group(group_id, group_id ? strlen(group_id) : 0, GR_GROUP_API_LEAVE);
    if (top == KERR_NONE) {
        gr_group_t *g = gr_group_find(group_id, strlen(group_id));
        if (g && g->type == GR_GROUP_CONSUMER) {
            leave_park_t *pk = gr_calloc(1, sizeof(*pk));
            pk->req = req;
            pk->lm = lm;
            pk->n = n;
            if (gr_cgroup_classic_leave(g, lm, n, &req->arena, leave_done, pk)) {
                req->park = pk;
                req->on_cancel = leave_cancel;
                return;
            }
            free(pk);
        } else {
            top = gr_group_leave(group_id, lm, n);
        }
    }
    leave_respond(req, top, lm, n);
}

/* ------------------------------------------------------------ DescribeGroups */

/* AclOperation READ(3), DELETE(6), DESCRIBE(8): what a group supports,
 * all allowed without an authorizer. */
#define GROUP_AUTHORIZED_OPS ((1 << 3) | (1 << 6) | (1 << 8))

static const gr_bytes_t no_bytes = {(const uint8_t *)"", 0};

void gr_api_describe_groups(gr_req_t *req, gr_rd_t *body)
{
    gr_DescribeGroupsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, DescribeGroupsRequest, &r);
    int32_t n = GR_MAX(r.Groups_count, 0);
    bool ops = req->api_version >= 3 && r.IncludeAuthorizedOperations;

    gr_DescribeGroupsResponse_t resp;
    gr_DescribeGroupsResponse_init(&resp);
    resp.Groups = GR_ARENA_ARRAY(req, gr_DescribeGroupsResponse_DescribedGroup_t, n,
                                 gr_DescribeGroupsResponse_DescribedGroup_init);
    /* a group named twice is described once: each answer copies every
     * member's metadata and assignment, which a request of a few KB would
     * otherwise have the broker build thousands of times over */
    gr_keyset_t seen;
    gr_keyset_init(req, &seen, n);
    int32_t out = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *id = cstr(req, r.Groups[i]);
        if (gr_keyset_add(&seen, id ? id : "", id ? strlen(id) : 0, !id) > 1)
            continue;
        gr_DescribeGroupsResponse_DescribedGroup_t *d = &resp.Groups[out++];
        d->GroupId = ostr(req, id ? id : "");
        d->GroupState = GR_STR("");
        d->ProtocolType = GR_STR("");
        d->ProtocolData = GR_STR("");
        d->ErrorCode = gr_coord_validate_group(id, id ? strlen(id) : 0, GR_GROUP_API_DESCRIBE);
        if (ops)
            d->AuthorizedOperations = GROUP_AUTHORIZED_OPS;
        if (d->ErrorCode != KERR_NONE)
            continue;
        gr_group_t *g = gr_group_find(id, strlen(id));
        if (!g || g->type != GR_GROUP_CLASSIC) {
            /* Kafka 4: a consumer group is not a classic group */
            d->GroupState = GR_STR("Dead");
            continue;
        }
        bool stable = g->state == GR_GROUP_STABLE && g->protocol_name;
        d->GroupState = ostr(req, gr_group_state_name(g->state));
        d->ProtocolType = ostr(req, g->protocol_type ? g->protocol_type : "");
        d->ProtocolData = ostr(req, stable ? g->protocol_name : "");
        d->Members = GR_ARENA_ARRAY(req, gr_DescribeGroupsResponse_DescribedGroupMember_t, g->nmembers,
                                    gr_DescribeGroupsResponse_DescribedGroupMember_init);
        int32_t k = 0;
        for (const gr_member_t *m = g->members; m && k < g->nmembers; m = m->next, k++) {
            gr_DescribeGroupsResponse_DescribedGroupMember_t *dm = &d->Members[k];
            dm->MemberId = ostr(req, m->member_id);
            dm->GroupInstanceId = ostr(req, m->group_instance_id);
            dm->ClientId = ostr(req, m->client_id ? m->client_id : "");
            dm->ClientHost = ostr(req, m->client_host ? m->client_host : "");
            dm->MemberMetadata = no_bytes;
            dm->MemberAssignment = no_bytes;
            if (stable) {
                const gr_member_protocol_t *p = gr_member_protocol(m, g->protocol_name);
                if (p && p->metadata_len > 0)
                    dm->MemberMetadata = (gr_bytes_t){p->metadata, p->metadata_len};
                if (m->assignment && m->assignment_len > 0)
                    dm->MemberAssignment = (gr_bytes_t){m->assignment, m->assignment_len};
            }
        }
        d->Members_count = k;
    }
    resp.Groups_count = out;
    GR_RESPOND(req, DescribeGroupsResponse, &resp);
}

/* ------------------------------------------------------------ ListGroups */

static bool state_in_filter(const gr_ListGroupsRequest_t *r, const char *state)
{
    if (r->StatesFilter_count <= 0)
        return true;
    size_t n = strlen(state);
    for (int32_t i = 0; i < r->StatesFilter_count; i++) {
        gr_str_t f = r->StatesFilter[i];
        if (f.len >= 0 && (size_t)f.len == n && strncasecmp(f.p, state, n) == 0)
            return true;
    }
    return false;
}

static bool type_in_filter(const gr_ListGroupsRequest_t *r, const char *type)
{
    if (r->TypesFilter_count <= 0)
        return true;
    size_t n = strlen(type);
    for (int32_t i = 0; i < r->TypesFilter_count; i++) {
        gr_str_t f = r->TypesFilter[i];
        /* Kafka's Group.GroupType.parse: case-insensitive, trimmed */
        const char *p = f.p ? f.p : "";
        size_t len = (size_t)GR_MAX(f.len, 0);
        while (len > 0 && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == n && strncasecmp(p, type, n) == 0)
            return true;
    }
    return false;
}

void gr_api_list_groups(gr_req_t *req, gr_rd_t *body)
{
    gr_ListGroupsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, ListGroupsRequest, &r);
    if (req->api_version < 4)
        r.StatesFilter_count = 0;
    if (req->api_version < 5)
        r.TypesFilter_count = 0;

    gr_ListGroupsResponse_t resp;
    gr_ListGroupsResponse_init(&resp);
    resp.ErrorCode = gr_coord_loading_any() ? KERR_COORDINATOR_LOAD_IN_PROGRESS : KERR_NONE;
    int32_t cap = gr_group_count();
    resp.Groups = GR_ARENA_ARRAY(req, gr_ListGroupsResponse_ListedGroup_t, cap, gr_ListGroupsResponse_ListedGroup_init);
    int32_t k = 0;
    for (gr_group_t *g = gr_group_next(NULL); g && k < cap; g = gr_group_next(g)) {
        bool consumer = g->type == GR_GROUP_CONSUMER;
        if (!consumer && g->state == GR_GROUP_DEAD)
            continue;
        const char *state = consumer ? gr_cgroup_state_name(g->cg) : gr_group_state_name(g->state);
        const char *type = consumer ? "consumer" : "classic";
        if (!state_in_filter(&r, state) || !type_in_filter(&r, type))
            continue;
        gr_ListGroupsResponse_ListedGroup_t *lg = &resp.Groups[k++];
        lg->GroupId = ostr(req, g->group_id);
        lg->ProtocolType = ostr(req, consumer ? "consumer" : g->protocol_type ? g->protocol_type : "");
        lg->GroupState = ostr(req, state);
        lg->GroupType = GR_STR(type);
    }
    resp.Groups_count = k;
    GR_RESPOND(req, ListGroupsResponse, &resp);
}

/* ------------------------------------------------------------ DeleteGroups */

struct delete_state;

/* One group's deletion in flight. */
typedef struct delete_one {
    struct delete_state *ds;
    int32_t index;
} delete_one_t;

typedef struct delete_state {
    gr_req_t *req;                  /* NULL once the connection went away */
    int32_t pending;                /* tombstone writes in flight + 1 while starting */
    int32_t n;
    char **ids;                     /* owned held copies, deduplicated request order */
    gr_kerr_t *errors;
    delete_one_t *ones;
} delete_state_t;

static void delete_finish_one(delete_state_t *ds)
{
    if (--ds->pending > 0)
        return;
    gr_req_t *req = ds->req;
    if (req) {
        req->on_cancel = NULL;
        req->park = NULL;
        gr_DeleteGroupsResponse_t resp;
        gr_DeleteGroupsResponse_init(&resp);
        resp.Results = GR_ARENA_ARRAY(req, gr_DeleteGroupsResponse_DeletableGroupResult_t, ds->n,
                                      gr_DeleteGroupsResponse_DeletableGroupResult_init);
        resp.Results_count = ds->n;
        for (int32_t i = 0; i < ds->n; i++) {
            resp.Results[i].GroupId = gr_str_keep(req, ostr(req, ds->ids[i]));
            resp.Results[i].ErrorCode = ds->errors[i];
        }
        GR_RESPOND(req, DeleteGroupsResponse, &resp);
    }
    for (int32_t i = 0; i < ds->n; i++)
        free(ds->ids[i]);
    free(ds->ids);
    free(ds->errors);
    free(ds->ones);
    free(ds);
}

/* The tombstones landed, or failed and the group is back (Kafka 4's
 * coordinator answers the mapped error then). */
static void delete_cb(void *arg, gr_kerr_t err)
{
    delete_one_t *one = arg;
    one->ds->errors[one->index] = err;
    delete_finish_one(one->ds);
}

static void delete_cancel(gr_req_t *req)
{
    delete_state_t *ds = req->park;
    if (ds)
        ds->req = NULL;
    req->park = NULL;
}

void gr_api_delete_groups(gr_req_t *req, gr_rd_t *body)
{
    gr_DeleteGroupsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, DeleteGroupsRequest, &r);
    int32_t n = GR_MAX(r.GroupsNames_count, 0);
    delete_state_t *ds = gr_calloc(1, sizeof(*ds));
    ds->req = req;
    ds->ids = gr_calloc((size_t)GR_MAX(n, 1), sizeof(*ds->ids));
    ds->errors = gr_calloc((size_t)GR_MAX(n, 1), sizeof(*ds->errors));
    ds->ones = gr_calloc((size_t)GR_MAX(n, 1), sizeof(*ds->ones));
    ds->pending = 1;
    req->park = ds;
    req->on_cancel = delete_cancel;
    /* duplicates (by Kafka's String equality) answered once: a keyset of
     * the held ids, so a long list costs linear time */
    gr_keyset_t seen;
    gr_keyset_init(req, &seen, n);
    for (int32_t i = 0; i < n; i++) {
        gr_str_t s = r.GroupsNames[i];
        const char *p = s.len >= 0 ? cstr(req, s) : "";
        size_t len = strlen(p);
        if (gr_keyset_add(&seen, p, (int32_t)len, 0) > 1)
            continue;
        int32_t k = ds->n++;
        ds->ids[k] = gr_strndup(p, len);
        if (s.len < 0) {
            ds->errors[k] = KERR_INVALID_GROUP_ID;
            continue;
        }
        ds->pending++;
        ds->ones[k] = (delete_one_t){ds, k};
        ds->errors[k] = gr_coord_delete_group(p, len, delete_cb, &ds->ones[k]);
        if (ds->errors[k] != KERR_NONE)
            ds->pending--;
    }
    delete_finish_one(ds);
}
