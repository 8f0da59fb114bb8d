#!/usr/bin/env python3
"""make_topologies.py DIR - writes the hwloc XML topologies of tests/numa/.

The XML files are checked in; this script is how they were made, so a change
is reviewable: lstopo builds the CPUs, caches and NUMA nodes from a synthetic
description, this script adds PCI host bridges with devices under the object
a device is attached to, and hwloc-annotate adds the NUMA distance matrix.
Needs Debian's hwloc package (lstopo-no-graphics, hwloc-annotate), 2.9.
"""
import os
import re
import subprocess
import sys
import tempfile


def pus(packages, cores, threads, per_pack_first=True):
    """OS indexes of PUs in object order, numbered the way Linux numbers
    Intel CPUs: first threads of every core of every package, then the
    second threads (package 0 is 0-11,24-35 with 2x12x2)."""
    total = packages * cores
    return ",".join(str(t * total + p * cores + c)
                    for p in range(packages) for c in range(cores) for t in range(threads))


def synthetic(desc, out):
    subprocess.run(["lstopo-no-graphics", "--input", desc, "--of", "xml", "-f", out], check=True)


GP = [1000]


def pci(busid, cls, ids, children=""):
    GP[0] += 1
    return ('<object type="PCIDev" gp_index="%d" pci_busid="%s" pci_type="%s %s 00" '
            'pci_link_speed="15.753846">%s</object>' % (GP[0], busid, cls, ids, children))


def hostbridge(bus_lo, bus_hi, devices):
    GP[0] += 1
    return ('<object type="Bridge" gp_index="%d" bridge_type="0-1" depth="0" '
            'bridge_pci="0000:[%02x-%02x]">%s</object>' % (GP[0], bus_lo, bus_hi, "".join(devices)))


CARD = ("1200", "[10ee:5020] [10ee:000e]")  # processing accelerator (a Xilinx board)
GPU = ("0302", "[10de:20b5] [10de:1533]")   # 3D controller (a datacenter GPU)


def attach(xml, obj_type, os_index, fragment):
    """Puts @fragment as the last child of the object @obj_type P#@os_index."""
    # Groups have no OS index: the N-th group in document order stands for #N.
    pat = (r'<object type="Group" ' if obj_type == "Group"
           else r'<object type="%s" os_index="%d" ' % (obj_type, os_index))
    found = list(re.finditer(pat, xml))
    start = found[os_index] if obj_type == "Group" and len(found) > os_index else (
        found[0] if found and obj_type != "Group" else None)
    if not start:
        raise SystemExit("no %s P#%d" % (obj_type, os_index))
    depth, i = 0, start.start()
    for m in re.finditer(r'<object\b[^>]*?(/?)>|</object>', xml[i:]):
        if m.group(0).startswith("</"):
            depth -= 1
        elif not m.group(1):
            depth += 1
        if depth == 0:
            at = i + m.start()
            return xml[:at] + fragment + xml[at:]
    raise SystemExit("unbalanced XML")


def attach_root(xml, fragment):
    at = xml.rindex("</object>")
    return xml[:at] + fragment + xml[at:]


def distances(xml_in, xml_out, matrix):
    n = len(matrix)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        # kind 5: HWLOC_DISTANCES_KIND_FROM_OS | HWLOC_DISTANCES_KIND_MEANS_LATENCY
        f.write("name=NUMALatency\n5\n%d\n" % n)
        for i in range(n):
            f.write("numa:%d\n" % i)
        for row in matrix:
            for v in row:
                f.write("%d\n" % v)
    subprocess.run(["hwloc-annotate", xml_in, xml_out, "root", "distances", f.name], check=True)
    os.unlink(f.name)


# Every node has memory: other hwloc users in the process (PoCL, through
# HWLOC_XMLFILE) size their devices from it, and refuse a machine with none.
def make(path, desc, edit, matrix=None):
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base.xml")
        synthetic(desc, base)
        with open(base) as f:
            xml = f.read()
        # Synthetic-backend infos would make hwloc report a synthetic machine.
        xml = re.sub(r'\s*<info name="(Backend|SyntheticDescription|ProcessName)"[^>]*/>', "", xml)
        xml = edit(xml)
        edited = os.path.join(tmp, "edited.xml")
        with open(edited, "w") as f:
            f.write(xml)
        if matrix:
            distances(edited, path, matrix)
        else:
            os.replace(edited, path)
    # It must load: lstopo reads it back.
    subprocess.run(["lstopo-no-graphics", "--input", path, "--of", "console", "-f", os.devnull],
                   check=True)


def main(out):
    # Two sockets, one NUMA node each, 12 cores x 2 threads; a Loom card on
    # socket 1, a GPU on socket 0.
    make(os.path.join(out, "two-sockets.xml"),
         "pack:2 [numa(memory=64GB)] core:12 pu:2(indexes=%s)" % pus(2, 12, 2),
         lambda x: attach(attach(x, "Package", 0, hostbridge(0x3a, 0x3b, [pci("0000:3b:00.0", *GPU)])),
                          "Package", 1, hostbridge(0x82, 0x83, [pci("0000:83:00.0", *CARD)])),
         [[10, 21], [21, 10]])
    # Four NUMA nodes (two per socket, as with sub-NUMA clustering), 4 cores
    # each, one thread per core; card A on node 1, card B attached to socket 1
    # as a whole (local to nodes 2 and 3).
    make(os.path.join(out, "four-nodes.xml"),
         "pack:2 group:2 [numa(memory=64GB)] core:4 pu:1",
         lambda x: attach(attach(x, "Group", 1, hostbridge(0x40, 0x41, [pci("0000:41:00.0", *CARD)])),
                          "Package", 1, hostbridge(0xc0, 0xc1, [pci("0000:c1:00.0", *CARD)])),
         [[10, 12, 32, 32], [12, 10, 32, 32], [32, 32, 10, 12], [32, 32, 12, 10]])
    # A host whose firmware gives no NUMA information (no SRAT, or a kernel
    # without CONFIG_NUMA): hwloc 2 always has a NUMA node, so it shows one,
    # at the machine, with every CPU and no distances; a card on its only bus.
    make(os.path.join(out, "no-numa.xml"), "pack:1 core:4 pu:1",
         lambda x: attach_root(x, hostbridge(0x00, 0x01, [pci("0000:01:00.0", *CARD)])))
    # Two nodes, and a card whose bridge hwloc could not place (attached to
    # the machine itself: local to everything, so to no node in particular).
    make(os.path.join(out, "unknown-locality.xml"), "pack:2 [numa(memory=64GB)] core:2 pu:1",
         lambda x: attach_root(x, hostbridge(0x10, 0x11, [pci("0000:11:00.0", *CARD)])),
         [[10, 20], [20, 10]])
    # Two nodes of one CPU each, a card on node 1: the shape of this
    # two-core build machine, so tests can bind for real (LOOM_NUMA_BIND_XML).
    make(os.path.join(out, "two-cpus.xml"), "pack:2 [numa(memory=1GB)] core:1 pu:1",
         lambda x: attach(x, "Package", 1, hostbridge(0x82, 0x83, [pci("0000:83:00.0", *CARD)])),
         [[10, 20], [20, 10]])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
