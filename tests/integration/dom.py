"""ebbd's status page as a browser rendered it (chromium --dump-dom, lib_agent.sh's status_dom),
read into one JSON document on stdout, so suites check the DOM, not the HTML ebbd wrote.
Usage: python3 dom.py FILE

  nodes      {address: state} of the node rows (table#nodes)
  polylines  the flows chart's lines
  events     rows of the recent decisions (table#events), its header not counted
  vips       {vip: {node: [weight, state]}} of the VIP table
  drains     {node: the drain row's attributes, plus "progress" [value, max], "safe" and
             "poweroff" (the power-off cell's data-safe and text)}
  changes    [{"uid", "text"}] of the changes made by ebbctl
"""
import html.parser
import json
import sys


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.nodes, self.polylines, self.events = {}, 0, 0
        self.vips, self.drains, self.changes = {}, {}, []
        self.table = self.part = self.vip = self.drain = self.text = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class") or ""
        if tag == "table":
            self.table = a.get("id")
        elif tag in ("thead", "tbody"):
            self.part = tag
        elif tag == "polyline":
            self.polylines += 1
        elif tag == "tr":
            if self.table == "events" and self.part != "thead":
                self.events += 1
            if cls == "node":
                self.nodes[a["data-node"]] = a["data-state"]
            elif cls == "vip":
                self.vip = self.vips.setdefault(a["data-vip"], {})
            elif cls.startswith("drain"):
                self.drain = self.drains[a["data-node"]] = dict(a)
            elif cls == "change":
                self.changes.append({"uid": a["data-uid"], "text": ""})
                self.text = "change"
        elif tag == "span" and cls == "member" and self.vip is not None:
            self.vip[a["data-node"]] = [int(a["data-weight"]), a["data-state"]]
        elif tag == "td" and cls == "poweroff":
            self.drain["safe"], self.drain["poweroff"] = a["data-safe"], ""
            self.text = "poweroff"
        elif tag == "progress":
            self.drain["progress"] = [a.get("value"), a.get("max")]

    def handle_endtag(self, tag):
        if tag == "tr":
            self.vip = self.text = None
        elif tag in ("thead", "tbody"):
            self.part = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data):
        if self.text == "poweroff":
            self.drain["poweroff"] += data
        elif self.text == "change":
            self.changes[-1]["text"] += data


p = Page()
with open(sys.argv[1]) as f:
    p.feed(f.read())
print(json.dumps({"vips": p.vips, "drains": p.drains, "changes": p.changes, "nodes": p.nodes,
                  "polylines": p.polylines, "events": p.events}))
