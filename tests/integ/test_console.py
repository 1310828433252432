"""The web console in a real browser: headless Chromium (Debian's chromium,
chromium-driver, python3-selenium) opens every page against a broker with
topics, messages and groups, checks what they show, previews an offset reset
as a dry run, executes it, undoes it, and fails on any JavaScript console
message of level SEVERE (errors, failed loads).

GREGOR_SCREENSHOTS=<dir> also saves a PNG of each main page there (the
README's pictures in docs/ are made this way)."""
import json
import os
import shutil
import tempfile
import time
import urllib.request

import pytest

import ck
import kproto as kp
from helpers import require

BROKER_OVERRIDES = {"http.console.write.enable": "true", "offsets.topic.num.partitions": "4",
                    "group.initial.rebalance.delay.ms": "0", "num.partitions": "1"}

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def get_json(broker, path):
    with urllib.request.urlopen(broker.http + path, timeout=10) as r:
        return json.loads(r.read().decode())


@pytest.fixture(scope="module")
def data(broker):
    """Topics with messages (text, JSON, binary, headers, a large value) and
    two groups: one live (a member, a rebalance) and one inactive with
    committed offsets."""
    ck.create_topic(broker, "orders", partitions=3)
    ck.create_topic(broker, "payments", partitions=1)
    for p in range(3):
        ck.produce(broker, "orders", [{"key": b"k%d" % i, "value": json.dumps({"order": i, "p": p}).encode(),
                                      "headers": [("trace", b"t%d" % i)]} for i in range(40)], partition=p)
    ck.produce(broker, "payments", [{"value": b"\x00\x01binary\xff"}, {"value": b"x" * 5000},
                                    {"value": b"plain text payment"}])
    # an inactive group with commits: the reset / undo target
    with kp.Conn(broker.bootstrap) as c:
        r = c.call(kp.OFFSET_COMMIT, 2, "billing", {"orders": [(0, 10, ""), (1, 20, ""), (2, 30, "")]},
                   generation=-1, member_id="")
        assert set(r["errors"].values()) == {0}, r
    # a live group with a member (rebalance history, assignment)
    conn = kp.Conn(broker.bootstrap)
    j = conn.call(kp.JOIN_GROUP, 1, "shipping", protocols=[("range", kp.subscription(["orders"]))])
    assert j["error"] == 0, j
    s = conn.call(kp.SYNC_GROUP, 0, "shipping", j["generation"], j["member_id"],
                  [(j["member_id"], kp.assignment({"orders": [0, 1, 2]}))])
    assert s["error"] == 0, s
    r = conn.call(kp.OFFSET_COMMIT, 2, "shipping", {"orders": [(0, 35, ""), (1, 39, ""), (2, 40, "")]},
                  generation=j["generation"], member_id=j["member_id"])
    assert set(r["errors"].values()) == {0}, r
    yield {"conn": conn, "join": j}
    conn.close()


@pytest.fixture(scope="module")
def browser(broker, data):
    require(os.access(CHROMEDRIVER, os.X_OK) and os.access(CHROMIUM, os.X_OK),
            "chromium / chromium-driver not installed (tools/deps.sh test)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        require(False, "python3-selenium not installed (tools/deps.sh test)")
    profile = tempfile.mkdtemp(prefix="gregor-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
              "--user-data-dir=" + profile, "--window-size=1400,1000"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def console_errors(drv):
    return [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]


def wait_for(drv, css, timeout=15, text=None):
    from selenium.webdriver.common.by import By
    deadline = time.monotonic() + timeout
    last = None
    from selenium.common.exceptions import StaleElementReferenceException
    while time.monotonic() < deadline:
        try:
            els = drv.find_elements(By.CSS_SELECTOR, css)
            if els and (text is None or any(text.lower() in e.text.lower() for e in els)):
                return els[0]
            last = [e.text for e in els][:3]
        except StaleElementReferenceException:
            pass            # the page was drawn again meanwhile
        time.sleep(0.1)
    raise AssertionError("%s%s did not appear within %ds (saw %r); page:\n%s"
                         % (css, " with %r" % text if text else "", timeout, last,
                            drv.find_element(By.TAG_NAME, "main").text[:2000]))


def shot(drv, name):
    d = os.environ.get("GREGOR_SCREENSHOTS")
    if d:
        os.makedirs(d, exist_ok=True)
        time.sleep(0.3)
        drv.save_screenshot(os.path.join(d, name))


def visit(drv, broker, frag, css, text=None):
    drv.get(broker.http + "/" + frag)
    el = wait_for(drv, css, text=text)
    errs = console_errors(drv)
    assert not errs, "JavaScript console errors on %s: %s" % (frag, errs)
    return el


def test_overview(broker, browser):
    el = visit(browser, broker, "#/", "#overview-cards", text="Partitions")
    assert "consumer groups" in el.text.lower() and "127.0.0.1:%d" % broker.port in el.text
    wait_for(browser, "svg.spark")
    shot(browser, "console-overview.png")


def test_topics_and_topic(broker, browser):
    el = visit(browser, broker, "#/topics", "#topics-table", text="orders")
    assert "payments" in el.text
    rows = {r.split()[0]: r for r in el.text.splitlines()[1:]}
    assert rows["orders"].split()[1:3] == ["3", "120"], rows
    shot(browser, "console-topics.png")
    el = visit(browser, broker, "#/topic/orders", "#partitions-table", text="40")
    assert el.text.count("\n") == 3


def test_topic_create_and_delete(broker, browser):
    from selenium.webdriver.common.by import By
    visit(browser, broker, "#/topics", "#topic-create")
    f = browser.find_element(By.ID, "topic-create")
    f.find_element(By.NAME, "name").send_keys("made-in-console")
    p = f.find_element(By.NAME, "partitions")
    p.clear()
    p.send_keys("2")
    f.find_element(By.TAG_NAME, "button").click()
    wait_for(browser, "#topics-table", text="made-in-console")
    assert get_json(broker, "/api/topics/made-in-console")["partitions"][1]["partition"] == 1
    browser.execute_script("window.confirm = () => true;")
    browser.find_element(By.CSS_SELECTOR, "button[data-topic='made-in-console']").click()
    deadline = time.monotonic() + 10
    while ("made-in-console" in [t["name"] for t in get_json(broker, "/api/topics")["topics"]]
           and time.monotonic() < deadline):
        time.sleep(0.1)
    assert "made-in-console" not in [t["name"] for t in get_json(broker, "/api/topics")["topics"]]
    time.sleep(0.5)
    wait_for(browser, "#topics-table", text="payments")
    assert "made-in-console" not in browser.find_element(By.ID, "topics-table").text
    assert not console_errors(browser)


def test_messages(broker, browser):
    el = visit(browser, broker, "#/messages/orders?partition=1&order=newest&format=json", "#messages-table",
               text='"order": 39')
    lines = el.text
    assert lines.index('"order": 39') < lines.index('"order": 30'), "newest first"
    assert "trace=t39" in lines
    shot(browser, "console-messages.png")
    el = visit(browser, broker, "#/messages/payments?partition=0&order=oldest&format=hex", "#messages-table",
               text="00 01 62")
    el = visit(browser, broker, "#/messages/payments?partition=0&order=oldest&format=text", "#messages-table",
               text="plain text payment")
    assert "show all" in el.text         # the 5000-byte value is cut at 1 KiB
    # from an offset, and "show all" of the big value
    el = visit(browser, broker, "#/messages/payments?partition=0&offset=1&order=oldest&limit=1&max_value=1048576",
               "#messages-table", text="xxxx")
    assert "show all" not in el.text and "plain text" not in el.text


def traffic_for_pictures(broker, data, secs=32):
    """Only for the pictures (GREGOR_SCREENSHOTS): a lag that moves, sampled
    every 5 s by the broker, so the chart has a line to draw."""
    j, conn = data["join"], data["conn"]
    off = 35
    t_end = time.monotonic() + secs
    i = 0
    while time.monotonic() < t_end:
        ck.produce(broker, "orders", [{"key": b"k", "value": b'{"late": %d}' % i}] * (20 + 10 * (i % 4)), partition=0)
        off += 12
        conn.call(kp.OFFSET_COMMIT, 2, "shipping", {"orders": [(0, off, "")]}, generation=j["generation"],
                  member_id=j["member_id"])
        conn.call(kp.HEARTBEAT, 0, "shipping", j["generation"], j["member_id"])
        i += 1
        time.sleep(1.0)


def test_groups_and_group(broker, browser, data):
    if os.environ.get("GREGOR_SCREENSHOTS"):
        traffic_for_pictures(broker, data)
    el = visit(browser, broker, "#/groups", "#groups-table", text="billing")
    assert "shipping" in el.text and "Stable" in el.text and "Empty" in el.text
    shot(browser, "console-groups.png")
    el = visit(browser, broker, "#/group/shipping", "#members-table", text=data["join"]["member_id"])
    assert "orders-0, orders-1, orders-2" in el.text
    tl = wait_for(browser, "#timeline", text="generation 1")
    assert "member joined" in tl.text and "rebalance took" in tl.text
    assert data["join"]["member_id"] in tl.text        # who joined
    offs = browser.find_element("css selector", "#offsets-table").text
    assert ("35" in offs or os.environ.get("GREGOR_SCREENSHOTS")) and "40" in offs
    wait_for(browser, "svg.chart")
    shot(browser, "console-group.png")


def test_timeline_names_the_members(broker):
    """Each rebalance of the timeline names the member that started it:
    the one that joined, then the one that left."""
    with kp.Conn(broker.bootstrap) as c:
        j = c.call(kp.JOIN_GROUP, 1, "timeline", protocols=[("range", kp.subscription(["orders"]))])
        assert j["error"] == 0, j
        s = c.call(kp.SYNC_GROUP, 0, "timeline", j["generation"], j["member_id"],
                   [(j["member_id"], kp.assignment({"orders": [0]}))])
        assert s["error"] == 0, s
        r = c.call(kp.LEAVE_GROUP, 0, "timeline", j["member_id"])
        assert r["error"] == 0, r
    hist = [e for e in get_json(broker, "/api/groups/timeline")["history"] if e["kind"] == "rebalance"]
    assert [(e["trigger"], e["member"], e["generation"]) for e in hist] == [
        ("member joined", j["member_id"], 1), ("member left", j["member_id"], 2)], hist


def test_reset_dry_run_execute_and_undo(broker, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    before = {(o["topic"], o["partition"]): o["offset"] for o in get_json(broker, "/api/groups/billing")["offsets"]}
    assert before == {("orders", 0): 10, ("orders", 1): 20, ("orders", 2): 30}
    visit(browser, broker, "#/group/billing", "#reset-form")
    Select(browser.find_element(By.ID, "reset-mode")).select_by_value("shift-by")
    browser.find_element(By.ID, "reset-value").send_keys("5")
    browser.find_element(By.ID, "reset-topic").send_keys("orders:0,1")
    browser.find_element(By.ID, "reset-preview").click()
    plan = wait_for(browser, "#reset-plan", text="Dry run")
    assert "15" in plan.text and "25" in plan.text
    # the dry run changed nothing
    now = {(o["topic"], o["partition"]): o["offset"] for o in get_json(broker, "/api/groups/billing")["offsets"]}
    assert now == before
    shot(browser, "console-reset.png")
    browser.find_element(By.ID, "reset-execute").click()
    wait_for(browser, "#reset-done", text="Done")
    after = {(o["topic"], o["partition"]): o["offset"] for o in get_json(broker, "/api/groups/billing")["offsets"]}
    assert after == {("orders", 0): 15, ("orders", 1): 25, ("orders", 2): 30}
    # undo: previewed, then executed: the offsets from before the reset
    visit(browser, broker, "#/group/billing", "#undo-preview")
    wait_for(browser, "#undo-preview").click()
    plan = wait_for(browser, "#undo-plan", text="Dry run")
    assert "15" in plan.text and "10" in plan.text
    browser.find_element(By.ID, "undo-execute").click()
    wait_for(browser, "#undo-done", text="Done")
    undone = {(o["topic"], o["partition"]): o["offset"] for o in get_json(broker, "/api/groups/billing")["offsets"]}
    assert undone == before
    assert not console_errors(browser)


def test_reset_refused_for_active_group(broker, browser):
    req = urllib.request.Request(broker.http + "/api/groups/shipping/reset?mode=to-earliest&topic=orders",
                                 method="POST", headers={"X-Gregor-Console": "1"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 409
    assert b"can only be reset if the group 'shipping' is inactive" in e.value.read()


def test_consumer_group_page(broker, browser, data):
    """A consumer group (KIP-848) has its page: members with their epochs
    and assignments, and the timeline of group epochs and assignments."""
    from test_cgroups_848 import cghb
    r = cghb(broker.bootstrap, "modern", member="mod-1", topics=["orders"])
    assert r["error"] == 0 and r["epoch"] == 1, r
    el = visit(browser, broker, "#/group/modern", "#members-table", text="mod-1")
    assert "(epoch 1)" in el.text and "orders-0, orders-1, orders-2" in el.text
    tl = wait_for(browser, "#timeline", text="group epoch 1")
    assert "member joined (mod-1)" in tl.text and "member mod-1 at epoch 1 owns orders:0,1,2" in tl.text
    el = visit(browser, broker, "#/groups", "#groups-table", text="modern")
    cghb(broker.bootstrap, "modern", member="mod-1", epoch=-1)
