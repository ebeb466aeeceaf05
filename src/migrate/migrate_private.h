/* SPDX-License-Identifier: MIT */
/*
 * migrate_private.h - what the source (source.c), the destination
 * (destination.c) and RAM verification (verify.c) share.
 */
#ifndef IODIRTY_MIGRATE_PRIVATE_H
#define IODIRTY_MIGRATE_PRIVATE_H

#include <iodirty/migrate.h>

#include "stream.h"

uint64_t mig_now_ns(void);

/* The VM's RAM as both ends must agree on it. */
void mig_config_of(struct vmm *vm, struct mig_config *cfg);
/** mig_config_check() - 0, or -EINVAL with @msg saying what differs. */
int mig_config_check(const struct mig_config *mine,
		     const struct mig_config *theirs, char *msg,
		     size_t msglen);

/* Pages of RAM, in region order: page i <-> GPA. */
uint64_t mig_ram_pages(struct vmm *vm);
/** mig_page_gpa() - GPA of page @i (in region order), or ~0 past the end. */
uint64_t mig_page_gpa(struct vmm *vm, uint64_t i);
/** mig_gpa_hva() - host address of @gpa's page, or NULL outside RAM. */
uint8_t *mig_gpa_hva(struct vmm *vm, uint64_t gpa);

/**
 * mig_hash_ram() - a hash per page of RAM (XXH3, 64-bit), computed by two
 * threads. @hashes holds mig_ram_pages() entries.
 * Return: 0, or -ENOMEM.
 */
int mig_hash_ram(struct vmm *vm, uint64_t *hashes);
/**
 * mig_compare_hashes() - fill @st's verdict, verify_pages, verify_mismatch
 * and verify_first_gpa from this end's hashes and the other end's.
 */
void mig_compare_hashes(struct vmm *vm, const uint64_t *mine,
			const uint64_t *theirs, struct mig_stats *st);

/* Send an ERROR record (best effort) with @msg. */
void mig_send_error(struct mig_chan *ch, int err, const char *msg);

#endif
