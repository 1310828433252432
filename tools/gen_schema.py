#!/usr/bin/env python3
"""gen_schema.py - generate src/proto/schema_gen.h and src/proto/schema_gen.c from Kafka's
JSON message specs.

Regenerate (dev time only; the build never runs this):

    python3 tools/gen_schema.py /path/to/kafka-message-specs

The spec directory holds client/, group-coordinator/ and
transaction-coordinator/ with one JSON file per
message (with // comments).  Without an argument it defaults to
../shared/reference/kafka-message-specs relative to the repository root.
Output goes to src/proto/ of the repository this script lives in.  Standard
library only.

For a message M (spec "name") it emits:
  struct gr_M / gr_M_t, one nested struct gr_M_Foo / gr_M_Foo_t per struct
  type, gr_M[_Foo]_init(), _decode(), _encode(); a table of API metadata
  (gr_api_spec) and a by-key dispatch (gr_schema_*).
To add a message, append its spec name to MESSAGES below.
"""
import json
import os
import re
import sys

# Spec names, in the directory they live in.
MESSAGES = [
    ("client", "RequestHeader"),
    ("client", "ResponseHeader"),
] + [("client", api + kind) for api in [
    "Produce", "Fetch", "ListOffsets", "Metadata", "OffsetCommit", "OffsetFetch",
    "FindCoordinator", "JoinGroup", "Heartbeat", "LeaveGroup", "SyncGroup",
    "DescribeGroups", "ListGroups", "SaslHandshake", "ApiVersions", "CreateTopics",
    "DeleteTopics", "DeleteRecords", "InitProducerId", "DescribeConfigs",
    "AlterConfigs", "SaslAuthenticate", "CreatePartitions", "DeleteGroups",
    "IncrementalAlterConfigs", "OffsetDelete", "DescribeCluster", "DescribeProducers",
    "AddPartitionsToTxn", "AddOffsetsToTxn", "EndTxn", "TxnOffsetCommit",
    "WriteTxnMarkers", "DescribeLogDirs", "AlterReplicaLogDirs", "OffsetForLeaderEpoch",
    "ElectLeaders", "AlterPartitionReassignments", "ListPartitionReassignments",
    "DescribeTopicPartitions", "GetTelemetrySubscriptions", "PushTelemetry", "ListClientMetricsResources",
    "DescribeTransactions", "ListTransactions", "UpdateFeatures",
    "ConsumerGroupHeartbeat", "ConsumerGroupDescribe",
] for kind in ("Request", "Response")] + [
    ("client", "ConsumerProtocolSubscription"),
    ("client", "ConsumerProtocolAssignment"),
    ("group-coordinator", "OffsetCommitKey"),
    ("group-coordinator", "OffsetCommitValue"),
    ("group-coordinator", "GroupMetadataKey"),
    ("group-coordinator", "GroupMetadataValue"),
    ("transaction-coordinator", "TransactionLogKey"),
    ("transaction-coordinator", "TransactionLogValue"),
] + [("group-coordinator", "ConsumerGroup" + rec + kind) for rec in [
    "Metadata", "PartitionMetadata", "MemberMetadata", "TargetAssignmentMetadata",
    "TargetAssignmentMember", "CurrentMemberAssignment",
] for kind in ("Key", "Value")]

VMAX = 32767

# type -> (C type, reader/writer suffix, encoded size)
NUMERIC = {
    "int8": ("int8_t", "i8", 1),
    "int16": ("int16_t", "i16", 2),
    "int32": ("int32_t", "i32", 4),
    "int64": ("int64_t", "i64", 8),
    "uint16": ("uint16_t", "u16", 2),
    "uint32": ("uint32_t", "u32", 4),
    "float64": ("double", "f64", 8),
    "bool": ("bool", "bool", 1),
}
OTHER = {"uuid": "gr_uuid_t", "string": "gr_str_t", "bytes": "gr_bytes_t",
         "records": "gr_records_t"}

C_KEYWORDS = set("""auto break case char const continue default do double else enum
extern float for goto if inline int long register restrict return short signed sizeof
static struct switch typedef union unsigned void volatile while bool true false""".split())


class SpecError(Exception):
    pass


def strip_comments(text):
    """Remove // comments that are outside JSON strings."""
    out = []
    i, n, in_str = 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
            continue
        if c == '"':
            in_str = True
            out.append(c)
            i += 1
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_versions(s, what):
    """'0+', '3-5', 'none', '7' -> (lo, hi) or None for none."""
    if s is None:
        return None
    s = str(s).strip()
    try:
        if s == "none":
            return None
        if s.endswith("+"):
            r = (int(s[:-1]), VMAX)
        elif "-" in s:
            lo, hi = s.split("-")
            r = (int(lo), int(hi))
        else:
            r = (int(s), int(s))
    except ValueError:
        raise SpecError("%s: bad version range %r" % (what, s))
    if r[0] < 0 or r[1] > VMAX or r[0] > r[1]:
        raise SpecError("%s: bad version range %r" % (what, s))
    return r


def intersect(a, b):
    if a is None or b is None:
        return None
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


def contains(r, v):
    return r is not None and r[0] <= v <= r[1]


def subset(a, b):
    """a within b (None is the empty set)."""
    return a is None or (b is not None and b[0] <= a[0] and a[1] <= b[1])


def cond(r, within):
    """C condition for `version in r`, knowing version is in `within`.
    Returns 'true', 'false' or an expression."""
    r = intersect(r, within)
    if r is None:
        return "false"
    parts = []
    if r[0] > within[0]:
        parts.append("version >= %d" % r[0])
    if r[1] < within[1]:
        parts.append("version <= %d" % r[1])
    if not parts:
        return "true"
    return " && ".join(parts)


def c_string(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= o < 127:
            out.append(ch)
        else:
            for b in ch.encode("utf-8"):
                out.append('\\%03o' % b)
    out.append('"')
    return "".join(out)


def int_literal(ctype, v):
    bits = {"int8_t": 8, "int16_t": 16, "int32_t": 32, "int64_t": 64}.get(ctype)
    if bits:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if not lo <= v <= hi:
            raise SpecError("default %d out of range for %s" % (v, ctype))
        if bits == 64:
            if v == lo:
                return "INT64_MIN"
            return "INT64_C(%d)" % v
        if v == lo:
            return "(%d - 1)" % (v + 1)
        return "%d" % v
    ubits = {"uint16_t": 16, "uint32_t": 32}[ctype]
    if not 0 <= v < (1 << ubits):
        raise SpecError("default %d out of range for %s" % (v, ctype))
    return "%dU" % v


# ------------------------------------------------------------------ model

class Field:
    def __init__(self, msg, owner, d):
        self.msg = msg
        self.name = d["name"]
        where = "%s.%s" % (owner, self.name)
        if not self.name.isidentifier() or self.name in C_KEYWORDS:
            raise SpecError("%s: field name not usable in C" % where)
        t = d["type"]
        self.is_array = t.startswith("[]")
        self.elem = t[2:] if self.is_array else t
        # a tagged field may give only taggedVersions (Kafka's generator
        # takes them as its versions)
        self.versions = parse_versions(d.get("versions", d.get("taggedVersions")), where)
        if self.versions is None and "versions" not in d and "taggedVersions" not in d:
            raise SpecError("%s: no versions" % where)
        self.nullable = parse_versions(d.get("nullableVersions", "none"), where)
        self.tagged = parse_versions(d.get("taggedVersions", "none"), where)
        self.tag = d.get("tag")
        self.flex_override = None
        if "flexibleVersions" in d:
            self.flex_override = parse_versions(d["flexibleVersions"], where)
            self.has_flex_override = True
        else:
            self.has_flex_override = False
        self.default = d.get("default")
        self.where = where
        self.struct = None           # Struct for struct-typed fields
        self.kind = None             # 'num', 'uuid', 'string', 'bytes', 'records', 'struct'
        if self.elem in NUMERIC:
            self.kind = "num"
        elif self.elem in OTHER:
            self.kind = self.elem
        else:
            self.kind = "struct"
        if self.kind == "records" and self.is_array:
            raise SpecError("%s: array of records" % where)
        if self.nullable is not None:
            if self.kind in ("num", "uuid") and not self.is_array:
                raise SpecError("%s: nullable %s" % (where, self.elem))
            if not subset(self.nullable, self.versions):
                # Kafka allows nullableVersions wider than versions; clamp.
                self.nullable = intersect(self.nullable, self.versions)
        if (self.tag is None) != (self.tagged is None):
            raise SpecError("%s: tag and taggedVersions go together" % where)
        if self.tagged is not None:
            if self.tagged != self.versions:
                raise SpecError("%s: taggedVersions must equal versions" % where)
            if not isinstance(self.tag, int) or self.tag < 0:
                raise SpecError("%s: bad tag" % where)
        self.default_null = (self.default == "null")
        if self.default_null and self.nullable is None:
            raise SpecError("%s: null default on a non-nullable field" % where)

    @property
    def ctype(self):
        if self.kind == "num":
            return NUMERIC[self.elem][0]
        if self.kind == "struct":
            return self.struct.ctype
        return OTHER[self.elem]


class Struct:
    def __init__(self, msg, name, versions, fields_json, top=False):
        self.msg = msg
        self.name = name
        self.top = top
        self.cname = "gr_" + msg.name if top else "gr_%s_%s" % (msg.name, name)
        self.ctype = self.cname + "_t"
        self.versions = versions
        self.fields = [Field(msg, name, f) for f in fields_json]
        self.fields_json = fields_json
        seen = set()
        for f in self.fields:
            if f.name in seen:
                raise SpecError("%s.%s: duplicate field" % (name, f.name))
            seen.add(f.name)
        tags = [f.tag for f in self.fields if f.tag is not None]
        if len(tags) != len(set(tags)):
            raise SpecError("%s: duplicate tag" % name)


class Message:
    def __init__(self, path):
        with open(path, encoding="utf-8") as fh:
            d = json.loads(strip_comments(fh.read()))
        self.d = d
        self.name = d["name"]
        self.type = d["type"]
        self.api_key = d.get("apiKey")
        self.valid = parse_versions(d["validVersions"], self.name)
        if self.valid is None:
            raise SpecError("%s: no valid versions" % self.name)
        self.flex = parse_versions(d.get("flexibleVersions", "none"), self.name)
        self.structs = {}        # name -> Struct
        self.order = []          # structs, children before parents
        self.common = {c["name"]: c for c in d.get("commonStructs", [])}
        self.top = Struct(self, self.name, self.valid, d["fields"], top=True)
        self.resolve(self.top, self.valid, [])
        self.order.append(self.top)
        self.validate(self.top, self.valid)

    def resolve(self, st, within, stack):
        for f, fj in zip(st.fields, st.fields_json):
            if f.kind != "struct":
                continue
            if "fields" in fj:
                if f.elem in self.common:
                    raise SpecError("%s: %s shadows a common struct" % (f.where, f.elem))
                if f.elem in self.structs:
                    raise SpecError("%s: struct %s defined twice" % (f.where, f.elem))
                sub = Struct(self, f.elem, f.versions, fj["fields"])
                self.structs[f.elem] = sub
                self.resolve(sub, f.versions, stack + [f.elem])
                self.order.append(sub)
            elif f.elem in self.common:
                if f.elem in stack:
                    raise SpecError("%s: recursive struct" % f.where)
                if f.elem not in self.structs:
                    c = self.common[f.elem]
                    sub = Struct(self, f.elem, parse_versions(c.get("versions", "0+"), f.elem),
                                 c["fields"])
                    self.structs[f.elem] = sub
                    self.resolve(sub, sub.versions, stack + [f.elem])
                    self.order.append(sub)
            else:
                raise SpecError("%s: unknown type %s" % (f.where, f.elem))
            f.struct = self.structs[f.elem]

    def validate(self, st, within):
        """Every field used in a version range: its ranges must make sense
        inside the message's valid versions and its parent's."""
        for f in st.fields:
            if intersect(f.versions, self.valid) is None and f.versions is not None:
                raise SpecError("%s: versions outside validVersions" % f.where)
            if f.tagged is not None and not subset(intersect(f.tagged, self.valid), self.flex):
                raise SpecError("%s: tagged in a non-flexible version" % f.where)
            if f.struct is not None:
                self.validate(f.struct, intersect(f.versions, within))

    def is_flex(self, v):
        return contains(self.flex, v)


# -------------------------------------------------------------- emitters

class Gen:
    def __init__(self, msg):
        self.m = msg
        self.valid = msg.valid
        self.need_is_default = set()
        self.out = []

    def fld_range(self, f):
        return intersect(f.versions, self.valid)

    def flex_expr(self, f, tagged):
        if tagged:
            return "true"
        if f.has_flex_override:
            return cond(f.flex_override, self.fld_range(f))
        return "flex"

    # ---- struct definitions
    def struct_def(self, st):
        L = ["typedef struct %s {" % st.cname]
        for f in st.fields:
            if f.is_array:
                L.append("    %s *%s;" % (f.ctype, f.name))
                L.append("    int32_t %s_count;" % f.name)
            else:
                L.append("    %s %s;" % (f.ctype, f.name))
                if f.kind == "struct" and f.nullable is not None:
                    L.append("    bool %s_is_null;" % f.name)
        if not st.fields:
            L.append("    char unused_;")
        L.append("} %s;" % st.ctype)
        return L

    # ---- defaults
    def num_default(self, f):
        d = f.default
        ct = NUMERIC[f.elem][0]
        if f.elem == "bool":
            if d is None:
                return "false"
            if isinstance(d, bool):
                return "true" if d else "false"
            if str(d).lower() in ("true", "false"):
                return str(d).lower()
            raise SpecError("%s: bad bool default %r" % (f.where, d))
        if f.elem == "float64":
            if d is None:
                return "0.0"
            return repr(float(d))
        if d is None or d == "":
            return "0"
        try:
            v = d if isinstance(d, int) else int(str(d), 0)
        except ValueError:
            raise SpecError("%s: bad default %r" % (f.where, d))
        return int_literal(ct, v)

    def str_default(self, f):
        if f.default_null:
            return "(gr_str_t){NULL, -1}"
        d = f.default if f.default is not None else ""
        d = str(d)
        return "(gr_str_t){%s, %d}" % (c_string(d), len(d.encode("utf-8")))

    def init_lines(self, st):
        L = ["    memset(m, 0, sizeof(*m));"]
        for f in st.fields:
            lv = "m->" + f.name
            if f.is_array:
                if f.default_null:
                    L.append("    %s_count = -1;" % lv)
                continue
            if f.kind == "num":
                v = self.num_default(f)
                if v not in ("0", "false", "0.0"):
                    L.append("    %s = %s;" % (lv, v))
            elif f.kind == "string":
                L.append("    %s = %s;" % (lv, self.str_default(f)))
            elif f.kind == "bytes":
                if f.default_null:
                    L.append("    %s.len = -1;" % lv)
            elif f.kind == "records":
                if f.nullable is not None:
                    L.append("    %s.len = -1;" % lv)
            elif f.kind == "struct":
                L.append("    %s_init(&%s);" % (f.struct.cname, lv))
                if f.nullable is not None and f.default_null:
                    L.append("    %s_is_null = true;" % lv)
        return L

    # ---- decode
    def dec_value(self, f, lv, rd, fx, elem=False):
        """Lines decoding one value (not an array) into lvalue lv."""
        k = f.kind
        if k == "num":
            return ["%s = gr_rd_%s(%s);" % (lv, NUMERIC[f.elem][1], rd)]
        if k == "uuid":
            return ["gr_rd_uuid(%s, &%s);" % (rd, lv)]
        if k in ("string", "bytes", "records"):
            fn = {"string": "str", "bytes": "bytes", "records": "records"}[k]
            L = ["gr_rd_%s(%s, %s, &%s);" % (fn, rd, fx, lv)]
            nok = "false" if elem else cond(f.nullable, self.fld_range(f))
            if nok != "true":
                L.append("rd_nonnull(%s, %s, %s.len);" % (rd, nok, lv))
            return L
        # struct
        call = "(void)%s_decode(%s, version, a, &%s);" % (f.struct.cname, rd, lv)
        nok = cond(f.nullable, self.fld_range(f))
        if nok == "false" or elem:
            return [call]
        L = []
        if nok != "true":
            L.append("if (%s) {" % nok)
        else:
            L.append("{")
        L += ["    if (gr_rd_i8(%s) < 0) {" % rd,
              "        %s_is_null = true;" % lv,
              "    } else {",
              "        %s_is_null = false;" % lv,
              "        " + call,
              "    }",
              "}"]
        if nok != "true":
            L += ["else", "    " + call]
        return L

    def elem_min(self, f, fx):
        k = f.kind
        if k == "num":
            return str(NUMERIC[f.elem][2])
        if k == "uuid":
            return "16"
        if k == "string":
            return "(%s ? 1 : 2)" % fx if fx not in ("true", "false") else ("1" if fx == "true" else "2")
        if k == "bytes":
            return "(%s ? 1 : 4)" % fx if fx not in ("true", "false") else ("1" if fx == "true" else "4")
        return "minsz(min_%s, GR_ARRAY_LEN(min_%s), version)" % (f.struct.cname, f.struct.cname)

    def dec_field(self, f, rd, tagged):
        fx = self.flex_expr(f, tagged)
        lv = "m->" + f.name
        if not f.is_array:
            return self.dec_value(f, lv, rd, fx)
        nok = cond(f.nullable, self.fld_range(f))
        L = ["{",
             "    int32_t n = gr_rd_array_len(%s, %s, %s);" % (rd, fx, self.elem_min(f, fx)),
             "    %s_count = n;" % lv,
             "    %s = NULL;" % lv]
        if nok != "true":
            L.append("    rd_nonnull(%s, %s, n);" % (rd, nok))
        L += ["    if (n > 0) {",
              "        int32_t i;",
              "        %s = gr_arena_alloc(a, (size_t)n * sizeof(*%s));" % (lv, lv),
              "        for (i = 0; i < n && !(%s)->err; i++) {" % rd]
        L += ["            " + x for x in self.dec_value(f, lv + "[i]", rd, fx, elem=True)]
        L += ["        }",
              "        %s_count = i;" % lv,
              "    }",
              "}"]
        return L

    def decode_fn(self, st):
        m = self.m
        body = []
        for f in st.fields:
            if f.tagged is not None:
                continue
            c = cond(f.versions, self.valid)
            if c == "false":
                continue
            lines = self.dec_field(f, "rd", False)
            body += wrap_if(c, lines)
        tagged = sorted([f for f in st.fields if f.tagged is not None
                         and intersect(f.tagged, self.valid)], key=lambda f: f.tag)
        fc = cond(m.flex, self.valid)
        if fc != "false":
            if not tagged:
                body += wrap_if("flex", ["rd_skip_tags(rd);"])
            else:
                T = ["uint32_t nt = gr_rd_uvarint(rd), t;",
                     "for (t = 0; t < nt && !rd->err; t++) {",
                     "    uint32_t tag = gr_rd_uvarint(rd);",
                     "    uint32_t sz = gr_rd_uvarint(rd);",
                     "    const uint8_t *p = gr_rd_raw(rd, sz);",
                     "    gr_rd_t sub;",
                     "    if (!p)",
                     "        break;",
                     "    gr_rd_init(&sub, p, sz);",
                     "    switch (tag) {"]
                for f in tagged:
                    T.append("    case %d:" % f.tag)
                    T += ["        " + x for x in
                          wrap_if(cond(f.tagged, self.valid), self.dec_field(f, "&sub", True))]
                    T.append("        break;")
                T += ["    default:",
                      "        break;",
                      "    }",
                      "    if (sub.err)",
                      "        rd->err = sub.err;",
                      "}"]
                body += wrap_if("flex", T)
        return self.fn("int %s_decode(gr_rd_t *rd, int16_t version, gr_arena_t *a, %s *m)"
                       % (st.cname, st.ctype),
                       ["%s_init(m);" % st.cname] + body + ["return rd->err;"], st)

    def fn(self, proto, body, st):
        """Wrap body lines into a function; declare flex and silence unused
        parameters as needed."""
        text = "\n".join(body)
        pre = []
        if re.search(r"\bflex\b", text):
            pre.append("const bool flex = %s;" % cond(self.m.flex, self.valid))
        L = [proto, "{"]
        L += ["    " + x for x in pre]
        if " *a," in proto and not re.search(r"\ba\b", text):
            L.append("    GR_UNUSED(a);")
        if not re.search(r"\bversion\b", text + "\n".join(pre)):
            L.append("    GR_UNUSED(version);")
        L += ["    " + x if x else "" for x in body]
        L.append("}")
        return L

    # ---- encode
    def enc_value(self, f, lv, fx, elem=False):
        k = f.kind
        if k == "num":
            return ["gr_wr_%s(w, %s);" % (NUMERIC[f.elem][1], lv)]
        if k == "uuid":
            return ["gr_wr_uuid(w, &%s);" % lv]
        nok = "false" if elem else cond(f.nullable, self.fld_range(f))
        if k == "string":
            if nok == "true":
                return ["gr_wr_str(w, %s, %s);" % (fx, lv)]
            return ["gr_wr_str(w, %s, str_nn(%s, %s));" % (fx, lv, nok)]
        if k == "bytes":
            if nok == "true":
                return ["gr_wr_bytes(w, %s, %s);" % (fx, lv)]
            return ["gr_wr_bytes(w, %s, bytes_nn(%s, %s));" % (fx, lv, nok)]
        if k == "records":
            if nok == "true":
                return ["gr_wr_records(w, %s, &%s);" % (fx, lv)]
            return ["wr_records_nn(w, %s, &%s, %s);" % (fx, lv, nok)]
        call = "%s_encode(w, version, &%s);" % (f.struct.cname, lv)
        if nok == "false" or elem:
            return [call]
        L = []
        L.append("if (%s) {" % nok if nok != "true" else "{")
        L += ["    if (%s_is_null) {" % lv,
              "        gr_wr_i8(w, -1);",
              "    } else {",
              "        gr_wr_i8(w, 1);",
              "        " + call,
              "    }",
              "}"]
        if nok != "true":
            L += ["else", "    " + call]
        return L

    def enc_field(self, f, tagged):
        fx = self.flex_expr(f, tagged)
        lv = "m->" + f.name
        if not f.is_array:
            return self.enc_value(f, lv, fx)
        nok = cond(f.nullable, self.fld_range(f))
        cnt = "%s_count" % lv
        if nok == "true":
            L = ["gr_wr_array_len(w, %s, %s);" % (fx, cnt)]
        else:
            L = ["gr_wr_array_len(w, %s, count_nn(%s, %s));" % (fx, cnt, nok)]
        L += ["for (int32_t i = 0; i < %s; i++) {" % cnt]
        L += ["    " + x for x in self.enc_value(f, lv + "[i]", fx, elem=True)]
        L += ["}"]
        return L

    def nondefault_expr(self, f):
        lv = "m->" + f.name
        if f.is_array:
            return "%s_count != %d" % (lv, -1 if f.default_null else 0)
        k = f.kind
        if k == "num":
            return "%s != %s" % (lv, self.num_default(f))
        if k == "uuid":
            return "!uuid_is_zero(&%s)" % lv
        if k == "string":
            if f.default_null:
                return "%s.len >= 0" % lv
            d = str(f.default) if f.default is not None else ""
            return "!str_is(%s, %s, %d)" % (lv, c_string(d), len(d.encode("utf-8")))
        if k in ("bytes", "records"):
            if f.default_null or (k == "records" and f.nullable is not None):
                return "%s.len >= 0" % lv
            return "%s.len != 0" % lv
        self.mark_is_default(f.struct)
        e = "!%s_is_default(&%s)" % (f.struct.cname, lv)
        if f.nullable is not None:
            return "(%s_is_null != %s || (!%s_is_null && %s))" % (
                lv, "true" if f.default_null else "false", lv, e)
        return e

    def mark_is_default(self, st):
        if st.cname in self.need_is_default:
            return
        self.need_is_default.add(st.cname)
        for f in st.fields:
            if f.kind == "struct" and not f.is_array:
                self.mark_is_default(f.struct)

    def is_default_fn(self, st):
        L = ["static bool %s_is_default(const %s *m)" % (st.cname, st.ctype), "{"]
        exprs = [self.nondefault_expr(f) for f in st.fields]
        if not exprs:
            L += ["    GR_UNUSED(m);", "    return true;", "}"]
            return L
        L.append("    return !(" + (" ||\n             ".join(exprs)) + ");")
        L.append("}")
        return L

    def encode_fn(self, st):
        m = self.m
        body = []
        for f in st.fields:
            if f.tagged is not None:
                continue
            c = cond(f.versions, self.valid)
            if c == "false":
                continue
            body += wrap_if(c, self.enc_field(f, False))
        tagged = sorted([f for f in st.fields if f.tagged is not None
                         and intersect(f.tagged, self.valid)], key=lambda f: f.tag)
        fc = cond(m.flex, self.valid)
        if fc != "false":
            if not tagged:
                body += wrap_if("flex", ["gr_wr_i8(w, 0);"])
            else:
                T = []
                names = []
                for f in tagged:
                    c = cond(f.tagged, self.valid)
                    e = self.nondefault_expr(f)
                    nm = "t%d" % f.tag
                    names.append(nm)
                    T.append("const bool %s = %s%s;" % (nm, "" if c == "true" else "(%s) && " % c, e))
                T.append("gr_wr_uvarint(w, (uint32_t)(%s));" % " + ".join(names))
                for f, nm in zip(tagged, names):
                    T.append("if (%s) {" % nm)
                    T.append("    gr_wr_t tmp;")
                    T.append("    gr_wr_init(&tmp);")
                    inner = self.enc_field(f, True)
                    T += ["    " + x.replace("(w,", "(&tmp,") for x in inner]
                    T.append("    wr_tagged(w, %d, &tmp);" % f.tag)
                    T.append("}")
                body += wrap_if("flex", T)
        if not body:
            body = ["GR_UNUSED(w);", "GR_UNUSED(m);"]
        elif not st.fields:
            body = ["GR_UNUSED(m);"] + body
        return self.fn("void %s_encode(gr_wr_t *w, int16_t version, const %s *m)"
                       % (st.cname, st.ctype), body, st)

    def minsz_table(self, st):
        """Minimum encoded size of st per version, for hostile array counts."""
        memo = {}

        def size(s, v):
            key = (s.cname, v)
            if key in memo:
                return memo[key]
            n = 0
            flex = self.m.is_flex(v)
            for f in s.fields:
                if f.tagged is not None or not contains(f.versions, v):
                    continue
                fflex = contains(f.flex_override, v) if f.has_flex_override else flex
                if f.is_array or f.kind in ("bytes", "records"):
                    n += 1 if fflex else 4
                elif f.kind == "string":
                    n += 1 if fflex else 2
                elif f.kind == "num":
                    n += NUMERIC[f.elem][2]
                elif f.kind == "uuid":
                    n += 16
                elif contains(f.nullable, v):
                    n += 1
                else:
                    n += size(f.struct, v)
            if flex:
                n += 1
            memo[key] = n
            return n

        vals = [max(1, size(st, v)) for v in range(0, self.valid[1] + 1)]
        return ["static const uint16_t min_%s[] = {%s};" % (
            st.cname, ", ".join(str(min(x, 65535)) for x in vals))]


def wrap_if(c, lines):
    if c == "true":
        return lines
    if len(lines) == 1 and not lines[0].endswith("{"):
        return ["if (%s)" % c, "    " + lines[0]]
    if lines and lines[0] == "{" and lines[-1] == "}":
        return ["if (%s) {" % c] + lines[1:]
    return ["if (%s) {" % c] + ["    " + x for x in lines] + ["}"]


# ---------------------------------------------------------------- output

HEADER_TOP = """/*
 * %s - GENERATED by tools/gen_schema.py from Apache Kafka's JSON message
 * specs (Apache License 2.0).  Do not edit by hand: change the generator and
 * run `python3 tools/gen_schema.py /path/to/kafka-message-specs`.
 *
 * For each message M: gr_M_t (+ gr_M_Foo_t for nested structs), with every
 * field of every version; gr_M_init() sets spec defaults, gr_M_decode()
 * parses the body of one version (arrays from the arena, strings/bytes/
 * records pointing into the reader's buffer), gr_M_encode() writes it.
 * An array field X is {X, X_count}; X_count == -1 is a null array.
 * Tagged fields are decoded into their fields and written only when they
 * differ from their default; unknown tags are skipped.
 */
"""

C_HELPERS = r"""
/* The smallest encoding of one struct in a version (bounds array counts). */
static inline size_t GR_GEN_MAYBE_UNUSED minsz(const uint16_t *tbl, size_t n, int16_t version)
{
    return version >= 0 && (size_t)version < n ? tbl[version] : 1;
}

static inline void GR_GEN_MAYBE_UNUSED rd_nonnull(gr_rd_t *rd, bool nullok, int32_t len)
{
    if (len < 0 && !nullok)
        rd->err = GR_EPROTO;
}

static void GR_GEN_MAYBE_UNUSED rd_skip_tags(gr_rd_t *rd)
{
    uint32_t n = gr_rd_uvarint(rd), i;
    for (i = 0; i < n && !rd->err; i++) {
        (void)gr_rd_uvarint(rd);
        gr_rd_skip(rd, gr_rd_uvarint(rd));
    }
}

/* Encoding null where a version does not allow it writes the empty value. */
static inline gr_str_t GR_GEN_MAYBE_UNUSED str_nn(gr_str_t s, bool nullok)
{
    if (s.len < 0 && !nullok)
        return (gr_str_t){"", 0};
    return s;
}

static inline gr_bytes_t GR_GEN_MAYBE_UNUSED bytes_nn(gr_bytes_t b, bool nullok)
{
    if (b.len < 0 && !nullok)
        return (gr_bytes_t){NULL, 0};
    return b;
}

static inline int32_t GR_GEN_MAYBE_UNUSED count_nn(int32_t n, bool nullok)
{
    return n < 0 && !nullok ? 0 : n;
}

static inline void GR_GEN_MAYBE_UNUSED wr_records_nn(gr_wr_t *w, bool flex, const gr_records_t *r, bool nullok)
{
    if (r->len < 0 && !nullok) {
        gr_wr_array_len(w, flex, 0);
        return;
    }
    gr_wr_records(w, flex, r);
}

static inline bool GR_GEN_MAYBE_UNUSED uuid_is_zero(const gr_uuid_t *u)
{
    static const gr_uuid_t zero;
    return memcmp(u->b, zero.b, sizeof(zero.b)) == 0;
}

static inline bool GR_GEN_MAYBE_UNUSED str_is(gr_str_t s, const char *lit, int32_t n)
{
    return s.len == n && (n == 0 || memcmp(s.p, lit, (size_t)n) == 0);
}

/* Append one tagged field: uvarint tag, uvarint size, the value in tmp. */
static void GR_GEN_MAYBE_UNUSED wr_tagged(gr_wr_t *w, uint32_t tag, gr_wr_t *tmp)
{
    size_t len;
    uint8_t *p;
    gr_wr_uvarint(w, tag);
    gr_wr_uvarint(w, (uint32_t)tmp->total);
    p = gr_wr_flatten(tmp, &len);
    if (p) {
        gr_wr_raw(w, p, len);
        gr_wr_free(tmp);
    } else {
        gr_wr_splice(w, tmp);
    }
}
"""


def api_base(name):
    return name[:-len("Request")]


def generate(spec_dir, out_dir):
    msgs = []
    for sub, name in MESSAGES:
        path = os.path.join(spec_dir, sub, name + ".json")
        m = Message(path)
        if m.name != name:
            raise SpecError("%s: name is %s" % (path, m.name))
        msgs.append(m)

    H = [HEADER_TOP % "schema_gen.h",
         "#ifndef GR_SCHEMA_GEN_H", "#define GR_SCHEMA_GEN_H", "",
         '#include "arena.h"', '#include "wire.h"', "",
         "#include <stdbool.h>", "#include <stddef.h>", "#include <stdint.h>", ""]
    C = [HEADER_TOP % "schema_gen.c", '#include "schema_gen.h"', "",
         "#include <string.h>", "",
         "#if defined(__GNUC__)",
         "#define GR_GEN_MAYBE_UNUSED __attribute__((unused))",
         "#else",
         "#define GR_GEN_MAYBE_UNUSED",
         "#endif"]
    C += C_HELPERS.split("\n")

    for m in msgs:
        g = Gen(m)
        H.append("/* ---- %s (%s, versions %d-%d%s) */" % (
            m.name, m.type, m.valid[0], m.valid[1],
            ", flexible %d+" % m.flex[0] if m.flex else ""))
        for st in m.order:
            H += g.struct_def(st)
            H.append("")
        for st in m.order:
            H.append("void %s_init(%s *m);" % (st.cname, st.ctype))
            H.append("int %s_decode(gr_rd_t *rd, int16_t version, gr_arena_t *a, %s *m);"
                     % (st.cname, st.ctype))
            H.append("void %s_encode(gr_wr_t *w, int16_t version, const %s *m);"
                     % (st.cname, st.ctype))
        H.append("")

        C.append("")
        C.append("/* " + "-" * 60 + " %s */" % m.name)
        C.append("")
        enc_fns = []
        for st in m.order:
            enc_fns.append(g.encode_fn(st))   # marks needed _is_default helpers
        in_arrays = set(f.struct.cname for st in m.order for f in st.fields
                        if f.is_array and f.struct is not None)
        for st in m.order:
            if st.cname in in_arrays:
                C += g.minsz_table(st)
        C.append("")
        for st in m.order:
            if st.cname in g.need_is_default:
                C += g.is_default_fn(st)
                C.append("")
            C.append("void %s_init(%s *m)" % (st.cname, st.ctype))
            C.append("{")
            C += g.init_lines(st)
            C.append("}")
            C.append("")
        for st, enc in zip(m.order, enc_fns):
            C += g.decode_fn(st)
            C.append("")
            C += enc
            C.append("")

    # ---- API table and dispatch
    reqs = [m for m in msgs if m.type == "request"]
    resp = {m.name: m for m in msgs if m.type == "response"}
    for m in reqs:
        if api_base(m.name) + "Response" not in resp:
            raise SpecError("%s: no response spec in MESSAGES" % m.name)
    reqs.sort(key=lambda m: m.api_key)
    keys = [m.api_key for m in reqs]
    if len(keys) != len(set(keys)):
        raise SpecError("duplicate apiKey")
    H += ["/* ---- API metadata and dispatch by key */", "",
          "typedef struct gr_api_spec {",
          "    int16_t key;",
          "    const char *name;          /* \"Produce\" */",
          "    int16_t min_version, max_version;",
          "    int16_t flex_min;          /* first flexible version, INT16_MAX if none */",
          "} gr_api_spec_t;", "",
          "/* NULL for keys that are not generated. */",
          "const gr_api_spec_t *gr_api_spec(int16_t key);",
          "/* sizeof the generated request/response struct, 0 for unknown keys. */",
          "size_t gr_schema_request_size(int16_t key);",
          "size_t gr_schema_response_size(int16_t key);",
          "/* Decode a body into a struct allocated from the arena.  GR_ENOENT for an",
          " * unknown key, GR_EINVAL for a version outside the spec's range, GR_EPROTO",
          " * for bad input. */",
          "int gr_schema_decode_request(int16_t key, gr_rd_t *rd, int16_t version, gr_arena_t *a, void **out);",
          "int gr_schema_decode_response(int16_t key, gr_rd_t *rd, int16_t version, gr_arena_t *a, void **out);",
          "/* Encode a struct of the key's type; GR_ENOENT / GR_EINVAL as above. */",
          "int gr_schema_encode_request(int16_t key, gr_wr_t *w, int16_t version, const void *in);",
          "int gr_schema_encode_response(int16_t key, gr_wr_t *w, int16_t version, const void *in);",
          "/* Header versions: request header 2 for flexible versions, else 1",
          " * (0 for ControlledShutdown v0); response header 1 for flexible versions",
          " * except ApiVersions, which always answers with header 0. */",
          "int16_t gr_schema_request_header_version(int16_t key, int16_t version);",
          "int16_t gr_schema_response_header_version(int16_t key, int16_t version);",
          "", "#endif", ""]

    C += ["/* " + "-" * 60 + " dispatch */", ""]
    for m in reqs:
        for mm in (m, resp[api_base(m.name) + "Response"]):
            n = mm.name
            C += ["static int dec_%s(gr_rd_t *rd, int16_t v, gr_arena_t *a, void *out)" % n,
                  "{",
                  "    return gr_%s_decode(rd, v, a, out);" % n,
                  "}", "",
                  "static void enc_%s(gr_wr_t *w, int16_t v, const void *in)" % n,
                  "{",
                  "    gr_%s_encode(w, v, in);" % n,
                  "}", ""]
    C += ["typedef struct schema_api {",
          "    gr_api_spec_t spec;",
          "    size_t req_size, resp_size;",
          "    int (*dec_req)(gr_rd_t *, int16_t, gr_arena_t *, void *);",
          "    void (*enc_req)(gr_wr_t *, int16_t, const void *);",
          "    int (*dec_resp)(gr_rd_t *, int16_t, gr_arena_t *, void *);",
          "    void (*enc_resp)(gr_wr_t *, int16_t, const void *);",
          "} schema_api_t;", "",
          "static const schema_api_t apis[] = {"]
    for m in reqs:
        r = resp[api_base(m.name) + "Response"]
        fm = m.flex[0] if m.flex else "INT16_MAX"
        C.append("    {{%d, %s, %d, %d, %s}, sizeof(gr_%s_t), sizeof(gr_%s_t)," % (
            m.api_key, c_string(api_base(m.name)), m.valid[0], m.valid[1], fm, m.name, r.name))
        C.append("     dec_%s, enc_%s, dec_%s, enc_%s}," % (m.name, m.name, r.name, r.name))
    C += ["};", ""]
    if len(reqs) > 127:
        raise SpecError("api_index is int8_t: too many APIs")
    maxkey = max(keys)
    idx = ["-1"] * (maxkey + 1)
    for i, m in enumerate(reqs):
        idx[m.api_key] = str(i)
    C += ["/* api key -> index in apis[], -1 when not generated */",
          "static const int8_t api_index[%d] = {" % (maxkey + 1)]
    for i in range(0, len(idx), 16):
        C.append("    " + ", ".join(idx[i:i + 16]) + ",")
    C += ["};", "",
          "static const schema_api_t *api_get(int16_t key)",
          "{",
          "    if (key < 0 || (size_t)key >= GR_ARRAY_LEN(api_index) || api_index[key] < 0)",
          "        return NULL;",
          "    return &apis[api_index[key]];",
          "}", "",
          "const gr_api_spec_t *gr_api_spec(int16_t key)",
          "{",
          "    const schema_api_t *s = api_get(key);",
          "    return s ? &s->spec : NULL;",
          "}", "",
          "size_t gr_schema_request_size(int16_t key)",
          "{",
          "    const schema_api_t *s = api_get(key);",
          "    return s ? s->req_size : 0;",
          "}", "",
          "size_t gr_schema_response_size(int16_t key)",
          "{",
          "    const schema_api_t *s = api_get(key);",
          "    return s ? s->resp_size : 0;",
          "}", "",
          "static int check(const schema_api_t *s, int16_t version)",
          "{",
          "    if (!s)",
          "        return GR_ENOENT;",
          "    if (version < s->spec.min_version || version > s->spec.max_version)",
          "        return GR_EINVAL;",
          "    return 0;",
          "}", "",
          "int gr_schema_decode_request(int16_t key, gr_rd_t *rd, int16_t version, gr_arena_t *a, void **out)",
          "{",
          "    const schema_api_t *s = api_get(key);",
          "    int rc = check(s, version);",
          "    *out = NULL;",
          "    if (rc)",
          "        return rc;",
          "    *out = gr_arena_alloc(a, s->req_size);",
          "    return s->dec_req(rd, version, a, *out);",
          "}", "",
          "int gr_schema_decode_response(int16_t key, gr_rd_t *rd, int16_t version, gr_arena_t *a, void **out)",
          "{",
          "    const schema_api_t *s = api_get(key);",
          "    int rc = check(s, version);",
          "    *out = NULL;",
          "    if (rc)",
          "        return rc;",
          "    *out = gr_arena_alloc(a, s->resp_size);",
          "    return s->dec_resp(rd, version, a, *out);",
          "}", "",
          "int gr_schema_encode_request(int16_t key, gr_wr_t *w, int16_t version, const void *in)",
          "{",
          "    const schema_api_t *s = api_get(key);",
          "    int rc = check(s, version);",
          "    if (rc)",
          "        return rc;",
          "    s->enc_req(w, version, in);",
          "    return 0;",
          "}", "",
          "int gr_schema_encode_response(int16_t key, gr_wr_t *w, int16_t version, const void *in)",
          "{",
          "    const schema_api_t *s = api_get(key);",
          "    int rc = check(s, version);",
          "    if (rc)",
          "        return rc;",
          "    s->enc_resp(w, version, in);",
          "    return 0;",
          "}", "",
          "int16_t gr_schema_request_header_version(int16_t key, int16_t version)",
          "{",
          "    const schema_api_t *s = api_get(key);",
          "    if (key == 7 && version == 0)   /* ControlledShutdown v0 */",
          "        return 0;",
          "    return s && version >= s->spec.flex_min ? 2 : 1;",
          "}", "",
          "int16_t gr_schema_response_header_version(int16_t key, int16_t version)",
          "{",
          "    const schema_api_t *s = api_get(key);",
          "    if (key == 18)                  /* ApiVersions: always v0 */",
          "        return 0;",
          "    return s && version >= s->spec.flex_min ? 1 : 0;",
          "}", ""]

    for fname, lines in (("schema_gen.h", H), ("schema_gen.c", C)):
        text = "\n".join(lines).rstrip("\n") + "\n"
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
        with open(os.path.join(out_dir, fname), "w", encoding="utf-8") as fh:
            fh.write(text)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        root, "..", "shared", "reference", "kafka-message-specs")
    try:
        generate(spec_dir, os.path.join(root, "src", "proto"))
    except (SpecError, OSError, ValueError, KeyError) as e:
        sys.stderr.write("gen_schema: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
