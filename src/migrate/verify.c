// SPDX-License-Identifier: MIT
/*
 * verify.c - what both ends of a migration share about RAM: its shape
 * (CONFIG), the page <-> GPA order, and per-page hashes for --verify
 * (XXH3-64 of each 4 KiB page, two threads).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "migrate_private.h"

uint64_t mig_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void mig_config_of(struct vmm *vm, struct mig_config *cfg)
{
	uint64_t gpa[VMM_MAX_RAM_REGIONS], size[VMM_MAX_RAM_REGIONS];
	struct vmm_pt *pt = vmm_passthrough(vm);
	unsigned int n = vmm_ram(vm, gpa, size, NULL);

	memset(cfg, 0, sizeof(*cfg));
	cfg->page_size = MIG_PAGE_SIZE;
	cfg->nregions = n;
	for (unsigned int i = 0; i < n; i++) {
		cfg->region[i].gpa = gpa[i];
		cfg->region[i].size = size[i];
	}
	cfg->nvcpus = vmm_config(vm)->vcpus;
	cfg->ndevices = pt ? vmm_pt_ndevices(pt) : 0;
	for (unsigned int i = 0; i < cfg->ndevices; i++) {
		const struct vmm_pt_device *d = vmm_pt_device(pt, i);

		cfg->device[i].kind = d->mdev ? 1 : d->dma_logging ? 2 : 0;
		cfg->device[i].index = d->index;
		cfg->device[i].mig_flags = d->mig_flags;
	}
}

int mig_config_check(const struct mig_config *mine,
		     const struct mig_config *theirs, char *msg, size_t msglen)
{
	if (mine->nregions != theirs->nregions) {
		snprintf(msg, msglen,
			 "the source has %u RAM regions, this VM %u: not the same VM shape",
			 theirs->nregions, mine->nregions);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < mine->nregions; i++) {
		if (mine->region[i].gpa != theirs->region[i].gpa ||
		    mine->region[i].size != theirs->region[i].size) {
			snprintf(msg, msglen,
				 "RAM region %u: source 0x%llx+%llu MiB, here 0x%llx+%llu MiB (use the same --mem)",
				 i, (unsigned long long)theirs->region[i].gpa,
				 (unsigned long long)(theirs->region[i].size >> 20),
				 (unsigned long long)mine->region[i].gpa,
				 (unsigned long long)(mine->region[i].size >> 20));
			return -EINVAL;
		}
	}
	if (mine->nvcpus != theirs->nvcpus) {
		snprintf(msg, msglen, "the source has %u vCPUs, this VM %u",
			 theirs->nvcpus, mine->nvcpus);
		return -EINVAL;
	}
	if (mine->ndevices != theirs->ndevices) {
		snprintf(msg, msglen,
			 "the source has %u passthrough devices, this VM %u",
			 theirs->ndevices, mine->ndevices);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < mine->ndevices; i++) {
		if (mine->device[i].kind != theirs->device[i].kind ||
		    mine->device[i].mig_flags != theirs->device[i].mig_flags) {
			snprintf(msg, msglen,
				 "device %u differs: source kind %u migration flags 0x%llx, here kind %u flags 0x%llx",
				 i, theirs->device[i].kind,
				 (unsigned long long)theirs->device[i].mig_flags,
				 mine->device[i].kind,
				 (unsigned long long)mine->device[i].mig_flags);
			return -EINVAL;
		}
	}
	return 0;
}

uint64_t mig_ram_pages(struct vmm *vm)
{
	uint64_t size[VMM_MAX_RAM_REGIONS], n = 0;
	unsigned int nr = vmm_ram(vm, NULL, size, NULL);

	for (unsigned int i = 0; i < nr; i++)
		n += size[i] / MIG_PAGE_SIZE;
	return n;
}

uint64_t mig_page_gpa(struct vmm *vm, uint64_t i)
{
	uint64_t gpa[VMM_MAX_RAM_REGIONS], size[VMM_MAX_RAM_REGIONS];
	unsigned int nr = vmm_ram(vm, gpa, size, NULL);

	for (unsigned int r = 0; r < nr; r++) {
		uint64_t pages = size[r] / MIG_PAGE_SIZE;

		if (i < pages)
			return gpa[r] + i * MIG_PAGE_SIZE;
		i -= pages;
	}
	return ~0ULL;
}

uint8_t *mig_gpa_hva(struct vmm *vm, uint64_t gpa)
{
	uint64_t base[VMM_MAX_RAM_REGIONS], size[VMM_MAX_RAM_REGIONS];
	uint8_t *hva[VMM_MAX_RAM_REGIONS];
	unsigned int nr = vmm_ram(vm, base, size, hva);

	for (unsigned int r = 0; r < nr; r++)
		if (gpa >= base[r] && gpa - base[r] < size[r])
			return hva[r] + (gpa - base[r]);
	return NULL;
}

struct hash_job {
	const uint8_t *hva[VMM_MAX_RAM_REGIONS];
	const struct vmm_dirty *held;	/* pages that may hold data */
	uint64_t zero_hash;
	uint64_t *hashes;
	uint64_t first, last;	/* page indexes, [first, last) */
};

static void *hash_range(void *arg)
{
	struct hash_job *j = arg;
	uint64_t base = 0;

	for (unsigned int r = 0; r < j->held->n; r++) {
		const struct vmm_dirty_region *reg = &j->held->r[r];

		for (uint64_t p = 0; p < reg->npages; p++) {
			uint64_t i = base + p;

			if (i < j->first || i >= j->last)
				continue;
			if (reg->bits[p / 64] & (1ULL << (p % 64)))
				j->hashes[i] = XXH3_64bits(j->hva[r] +
								   p * MIG_PAGE_SIZE,
							   MIG_PAGE_SIZE);
			else
				j->hashes[i] = j->zero_hash;
		}
		base += reg->npages;
	}
	return NULL;
}

/*
 * Pages the memfd holds no data for are zero and hashed as such without
 * reading them: reading would allocate every one of them.
 */
int mig_hash_ram(struct vmm *vm, uint64_t *hashes)
{
	static const uint8_t zero[MIG_PAGE_SIZE];
	uint64_t n = mig_ram_pages(vm);
	struct vmm_dirty held = { 0 };
	struct hash_job a = { .hashes = hashes, .first = 0, .last = n / 2 };
	struct hash_job b;
	pthread_t t;

	if (vmm_dirty_init_ram(vm, &held))
		return -ENOMEM;
	vmm_ram_populated(vm, &held);	/* on failure, all marked */
	vmm_ram(vm, NULL, NULL, (uint8_t **)a.hva);
	a.held = &held;
	a.zero_hash = XXH3_64bits(zero, sizeof(zero));
	b = a;
	b.first = n / 2;
	b.last = n;
	if (pthread_create(&t, NULL, hash_range, &b)) {
		a.last = n;
		hash_range(&a);
	} else {
		hash_range(&a);
		pthread_join(t, NULL);
	}
	vmm_dirty_destroy(&held);
	return 0;
}

void mig_compare_hashes(struct vmm *vm, const uint64_t *mine,
			const uint64_t *theirs, struct mig_stats *st)
{
	uint64_t n = mig_ram_pages(vm);

	st->verify_pages = n;
	st->verify_mismatch = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (mine[i] == theirs[i])
			continue;
		if (!st->verify_mismatch)
			st->verify_first_gpa = mig_page_gpa(vm, i);
		st->verify_mismatch++;
	}
	st->verdict = st->verify_mismatch ? MIG_VERIFY_DIFFERENT :
					    MIG_VERIFY_IDENTICAL;
}

void mig_send_error(struct mig_chan *ch, int err, const char *msg)
{
	uint8_t buf[4 + 256];
	size_t n = strnlen(msg, 255);
	int32_t e = err;

	memcpy(buf, &e, 4);
	memcpy(buf + 4, msg, n);
	buf[4 + n] = 0;
	mig_write_record(ch, MIG_REC_ERROR, buf, 4 + n + 1);
}
