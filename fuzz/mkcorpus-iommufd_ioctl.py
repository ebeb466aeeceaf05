#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mkcorpus-iommufd_ioctl.py - write the seed corpus of fuzz/iommufd_ioctl.c.

Each seed is a short, meaningful sequence of iommufd ioctls in the target's
input encoding (the generators gen_* in iommufd_ioctl.c): alloc an IOAS, map,
add a mock domain, allocate a dirty-tracking HWPT, enable tracking, dirty
pages, read the bitmap, unmap; the VFIO compat path; options and IOVA
ranges; a few error paths. The encoding helpers below mirror the C
generators one to one; after a change to one, run

    python3 fuzz/mkcorpus-iommufd_ioctl.py fuzz/corpus/iommufd_ioctl
    IODIRTY_FUZZ_TRACE=1 build/fuzz/iommufd_ioctl fuzz/corpus/iommufd_ioctl/*

and check that the trace shows the ioctls succeeding as the comments say.
"""
import os
import struct
import sys

# Commands: index into iommufd_cmds[] (class byte k % 16 in 0..6, then index).
DESTROY, IOAS_ALLOC, ALLOW_IOVAS, IOAS_COPY, IOVA_RANGES, IOAS_MAP, \
    IOAS_UNMAP, OPTION, VFIO_IOAS, HWPT_ALLOC, GET_HW_INFO, SET_TRACKING, \
    GET_BITMAP, INVALIDATE = range(14)
# VFIO numbers: index into vfio_cmds[] (class byte 10, then index).
VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU, VFIO_GET_INFO, \
    VFIO_MAP_DMA, VFIO_UNMAP_DMA, VFIO_DIRTY_PAGES = range(7)


def b(*v):
    return bytes(v)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


# Field generators (gen_* in the C file).
def ID(n):                 # 1..8
    assert 1 <= n <= 8
    return b(n - 1)


def FLAGS(v):
    return b(v)


RSV = b(0)                 # reserved / zero field


def SMALL(v):
    return b(v)


def COUNT(n):
    assert n < 9
    return b(n)


def IOVA(page):            # MOCK_APERTURE_START + page * 4 KiB
    return b(0) + u16(page)


IOVA_ZERO = b(9)


def LEN(pages):            # 1..64 pages of 4 KiB
    assert 1 <= pages <= 64
    return b(0, pages - 1)


LEN_ALL = b(10)            # UINT64_MAX


def UVA(page):             # the map region + page * 4 KiB
    return b(0, page)


UVA_MAP = b(9)             # the map region itself: 2 MiB aligned
LEN_1M = b(7)


def PTR(off):              # the map region + off (8-byte aligned)
    return b(0) + u32(off)


PTR_NULL = b(15)
PGSZ_4K = b(0)


def SIZE_SIZEOF():
    return b(0)


SIZE_MIN = b(7)
SIZE_ZERO = b(13)


def SIZE_DIRTY_TAIL(extra, at, val):   # sizeof + 1 + extra, byte `at` = val
    return b(12) + u16(extra), u16(at) + b(val - 1)


def ARG(i=0):              # the slot + 8 * i
    return b(i)


ARG_GARBAGE = b(15, 0)     # the null page
ARG_RO = b(13, 0)          # the read-only part: answers cannot be written


def ioctl(idx, body, size=SIZE_SIZEOF(), arg=ARG()):
    """An iommufd table command (class 0, no raw prefill)."""
    tail = b""
    if isinstance(size, tuple):
        size, tail = size
    return b(0, idx) + body + size + arg + tail


def test(sel, body):
    """IOMMU_TEST_CMD: sel picks the op (ops[] in build_test)."""
    return b(8) + b(sel) + body + RSV + SIZE_SIZEOF() + ARG()


def mock_domain(pt_id):
    return test(0, ID(pt_id) + RSV)


def mock_domain_replace(stdev, pt_id):
    return test(5, ID(stdev) + RSV + ID(pt_id))


def test_dirty(hwpt, page, pages, uptr_off):
    return test(9, ID(hwpt) + RSV + RSV + IOVA(page) + LEN(pages) +
                PGSZ_4K + PTR(uptr_off) + b(0))


def check_refs(uva_page, pages, refs):
    return test(8, ID(1) + RSV + UVA(uva_page) + LEN(pages) + SMALL(refs))


def vfio(nr, body, size=SIZE_SIZEOF(), arg=ARG()):
    return b(10, nr) + body + size + arg


def vfio_int(nr, val_sel):
    """val_sel 0: VFIO_TYPE1v2_IOMMU, 3: VFIO_TYPE1_IOMMU."""
    return b(10, nr, val_sel)


def vfio_unmap(iova_page, pages):
    return vfio(VFIO_UNMAP_DMA, FLAGS(0) + IOVA(iova_page) + LEN(pages) +
                PGSZ_4K + SMALL(0) + PTR_NULL)


ioas_alloc = ioctl(IOAS_ALLOC, RSV)


def ioas_map(ioas, uva_page, pages, iova_page, flags=7):
    return ioctl(IOAS_MAP, FLAGS(flags) + ID(ioas) + RSV + UVA(uva_page) +
                 LEN(pages) + IOVA(iova_page))


def ioas_unmap(ioas, iova_page, pages):
    return ioctl(IOAS_UNMAP, ID(ioas) + b(255) + IOVA(iova_page) + LEN(pages))


def ioas_unmap_all(ioas):
    return ioctl(IOAS_UNMAP, ID(ioas) + b(0))


def hwpt_alloc(dev, pt, flags):
    # s = 0: IOMMU_HWPT_DATA_NONE, no fault id
    return ioctl(HWPT_ALLOC, b(0) + FLAGS(flags) + ID(dev) + ID(pt) + RSV +
                 PTR_NULL + RSV)


def hwpt_alloc_selftest(dev, pt, flags, pagetable_type):
    # s = 5: IOMMU_HWPT_DATA_SELFTEST, 8 bytes of data
    return ioctl(HWPT_ALLOC, b(5) + FLAGS(flags) + ID(dev) + ID(pt) + RSV +
                 PTR(0x80000) + b(0) + SMALL(pagetable_type) + RSV)


def set_tracking(hwpt, enable):
    return ioctl(SET_TRACKING, FLAGS(enable) + ID(hwpt) + RSV)


def get_bitmap(hwpt, page, pages, data_off, flags=0):
    return ioctl(GET_BITMAP, ID(hwpt) + FLAGS(flags) + RSV + IOVA(page) +
                 LEN(pages) + PGSZ_4K + PTR(data_off))


def destroy(obj):
    return ioctl(DESTROY, ID(obj))


def hw_info(dev):
    # s = 0x11: data_len = 8 (case 1), in_data_type DEFAULT ((s >> 3) % 4 = 2)
    return ioctl(GET_HW_INFO, b(0x11) + FLAGS(0) + ID(dev) + PTR(0x90000))


REOPEN = b(248)
FAIL_NTH = b(241, 0)       # fail the 2nd allocation of the next ioctl

# Object ids: IOAS 1; MOCK_DOMAIN on it gives stdev 2, idev 3, auto HWPT 4;
# the next HWPT_ALLOC is 5.
SEEDS = {
    "ioas-alloc": b(0) + ioas_alloc,
    "map-unmap": b(0) + ioas_alloc + ioas_map(1, 0, 16, 0) +
    ioas_unmap(1, 0, 16),
    "mock-domain-map": b(0) + ioas_alloc + mock_domain(1) +
    ioas_map(1, 0, 32, 0) + hw_info(3) + check_refs(0, 32, 1) +
    ioas_unmap_all(1) + destroy(2),
    "dirty-tracking": b(0) + ioas_alloc + mock_domain(1) +
    hwpt_alloc(3, 1, 2) + mock_domain_replace(2, 5) +
    ioas_map(1, 0, 64, 0) + set_tracking(5, 1) +
    test_dirty(5, 0, 64, 0xc0000) + get_bitmap(5, 0, 64, 0xd0000) +
    get_bitmap(5, 0, 64, 0xd0000, 1) + set_tracking(5, 0) +
    ioas_unmap(1, 0, 64) + destroy(2) + destroy(5) + destroy(1),
    # A 1 MiB map of 1 MiB aligned memory: the mock's huge leaves.
    "dirty-huge": b(0) + ioas_alloc + mock_domain(1) +
    hwpt_alloc_selftest(3, 1, 2, 1) + mock_domain_replace(2, 5) +
    ioctl(IOAS_MAP, FLAGS(7) + ID(1) + RSV + UVA_MAP + LEN_1M + IOVA(0)) +
    ioas_map(1, 0, 64, 512) + set_tracking(5, 1) +
    test_dirty(5, 0, 64, 0xc0000) + test_dirty(5, 512, 4, 0xc0000) +
    get_bitmap(5, 0, 64, 0xd0000) + get_bitmap(5, 0, 64, 0xd0000) +
    ioas_unmap_all(1),
    "vfio-compat": b(1) + ioas_alloc +
    ioctl(VFIO_IOAS, ID(1) + SMALL(1) + RSV) +
    vfio_int(VFIO_GET_API_VERSION, 0) + b(0) +
    vfio_int(VFIO_CHECK_EXTENSION, 0) + vfio_int(VFIO_SET_IOMMU, 0) +
    vfio(VFIO_MAP_DMA, FLAGS(3) + UVA(0) + IOVA(0) + LEN(8)) +
    vfio(VFIO_GET_INFO, RSV, size=b(11) + u16(256)) +
    vfio(VFIO_UNMAP_DMA, FLAGS(2) + b(0) + PGSZ_4K + SMALL(0) + PTR_NULL),
    # Type1 v1: large pages off, so an unmap may cut a mapping.
    "vfio-v1-cut": b(1) + ioas_alloc +
    ioctl(VFIO_IOAS, ID(1) + SMALL(1) + RSV) + vfio_int(VFIO_SET_IOMMU, 3) +
    vfio(VFIO_MAP_DMA, FLAGS(3) + UVA(0) + IOVA(0) + LEN(16)) +
    vfio_unmap(4, 2) + vfio_unmap(0, 1) + mock_domain(1) +
    vfio_unmap(8, 4) + vfio(VFIO_GET_INFO, RSV, size=b(11) + u16(256)),
    "options-ranges": b(0) + ioas_alloc + mock_domain(1) +
    ioctl(OPTION, SMALL(1) + SMALL(1) + RSV + ID(1) + SMALL(0)) +
    ioctl(OPTION, SMALL(1) + SMALL(0) + RSV + ID(1) + SMALL(0)) +
    ioctl(IOVA_RANGES, ID(1) + COUNT(4) + RSV + PTR(0xa0000)) +
    ioctl(IOVA_RANGES, ID(1) + COUNT(0) + RSV + PTR(0xa0000)) +
    ioctl(ALLOW_IOVAS, ID(1) + COUNT(1) + RSV + PTR(0xb0000) + b(0) +
          IOVA(0) + LEN(64)) +
    ioas_map(1, 0, 16, 0, flags=6),
    "copy": b(0) + ioas_alloc + ioas_alloc + ioas_map(1, 0, 16, 0) +
    ioctl(IOAS_COPY, FLAGS(7) + ID(2) + ID(1) + LEN(16) + IOVA(32) +
          IOVA(0)) + mock_domain(2) + ioas_unmap_all(2) + ioas_unmap_all(1),
    "dispatch-errors": b(0) +
    ioctl(IOAS_ALLOC, RSV, size=SIZE_MIN) +
    ioctl(IOAS_ALLOC, RSV, size=b(8, 0)) +
    ioctl(IOAS_ALLOC, RSV, size=SIZE_DIRTY_TAIL(16, 3, 1)) +
    ioctl(IOAS_ALLOC, RSV, size=b(10, 0)) +
    ioctl(IOAS_ALLOC, RSV, arg=ARG_GARBAGE) +
    ioctl(IOAS_ALLOC, RSV, arg=ARG_RO) +
    ioctl(IOAS_ALLOC, RSV, size=SIZE_ZERO) +
    b(12, 0) + SIZE_SIZEOF() + ARG() +
    b(13) + u32(0x3b7f) + SIZE_SIZEOF() + ARG(),
    "reopen-pinned": b(0) + ioas_alloc + mock_domain(1) +
    ioas_map(1, 0, 16, 0) + REOPEN + ioas_alloc + ioas_map(1, 0, 16, 0) +
    mock_domain(1),
    "fail-nth": b(0) + ioas_alloc + FAIL_NTH + mock_domain(1) +
    mock_domain(1) + b(243, 1) + hwpt_alloc(3, 1, 2) + ioas_map(1, 0, 4, 0) +
    b(240, 0) + ioas_map(1, 8, 4, 8),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/iommufd_ioctl"
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
