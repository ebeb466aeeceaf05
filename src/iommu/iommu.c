// SPDX-License-Identifier: MIT
/*
 * iommu.c - the iommu core: domains, attach, and the DMA path from a device
 * to the domain it is attached to.
 */
#include <errno.h>
#include <string.h>

#include <iodirty/alloc.h>
#include <iodirty/err.h>
#include <iodirty/iommu.h>

static const struct iommu_driver *const drivers[] = {
	&amd_iommu_driver,
	&intel_iommu_driver,
	&arm_smmu_v3_driver,
};

const struct iommu_driver *iommu_driver_by_name(const char *name)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(drivers); i++)
		if (!strcmp(drivers[i]->name, name))
			return drivers[i];
	return NULL;
}

void iommu_dev_init(struct iommu_dev *dev, struct iommu_unit *unit,
		    const char *name, uint32_t flags)
{
	memset(dev, 0, sizeof(*dev));
	dev->unit = unit;
	dev->name = name;
	dev->flags = flags;
	pthread_rwlock_init(&dev->attach_lock, NULL);
}

void iommu_dev_destroy(struct iommu_dev *dev)
{
	pthread_rwlock_destroy(&dev->attach_lock);
}

bool iommu_dev_dirty_capable(struct iommu_dev *dev)
{
	return dev->unit->drv->dirty_capable(dev);
}

struct iommu_domain *iommu_domain_alloc_paging(struct iommu_dev *dev,
					       uint32_t flags,
					       uint64_t pgsizes)
{
	const struct iommu_driver *drv = dev->unit->drv;
	struct pt_config cfg = { .format = drv->format };
	struct iommu_domain *dom;
	uint64_t ap_start, ap_last;

	if (flags & ~drv->alloc_flags)
		return ERR_PTR(-EOPNOTSUPP);
	if ((flags & IOMMU_DOMAIN_DIRTY_TRACKING) && !drv->dirty_capable(dev))
		return ERR_PTR(-EOPNOTSUPP);
	if (drv->dirty_excludes_nest_parent &&
	    (flags & IOMMU_DOMAIN_DIRTY_TRACKING) &&
	    (flags & IOMMU_DOMAIN_NEST_PARENT))
		return ERR_PTR(-EOPNOTSUPP);

	dom = xzalloc(sizeof(*dom));
	if (!dom)
		return ERR_PTR(-ENOMEM);
	drv->aperture(dev, &ap_start, &ap_last);
	cfg.pgsize_bitmap = pgsizes ? pgsizes : drv->pgsizes(dev);
	cfg.dirty_tracking = flags & IOMMU_DOMAIN_DIRTY_TRACKING;
	cfg.va_lg2 = fls64(ap_last) + 1;
	dom->pt = pt_domain_alloc(&cfg);
	if (IS_ERR(dom->pt)) {
		long rc = PTR_ERR(dom->pt);

		xfree(dom);
		return ERR_PTR(rc);
	}
	dom->drv = drv;
	dom->unit = dev->unit;
	dom->dirty_ops = cfg.dirty_tracking;
	dom->nest_parent = flags & IOMMU_DOMAIN_NEST_PARENT;
	dom->pgsizes = pt_domain_pgsizes(dom->pt);
	dom->aperture_start = ap_start;
	dom->aperture_last = ap_last;
	return dom;
}

void iommu_domain_free(struct iommu_domain *dom)
{
	if (!dom)
		return;
	pt_domain_free(dom->pt);
	xfree(dom);
}

int iommu_attach_check(struct iommu_domain *dom, struct iommu_dev *dev)
{
	if (dom->drv != dev->unit->drv)
		return -EINVAL;
	if (dom->dirty_ops && !dev->unit->drv->dirty_capable(dev))
		return -EINVAL;
	if (dom->drv->attach_check)
		return dom->drv->attach_check(dom, dev);
	return 0;
}

void iommu_attach(struct iommu_dev *dev, struct iommu_domain *dom)
{
	pthread_rwlock_wrlock(&dev->attach_lock);
	if (dev->domain)
		dev->domain->users--;
	dev->domain = dom;
	if (dom)
		dom->users++;
	pthread_rwlock_unlock(&dev->attach_lock);
}

static int dma_blocked(struct pt_fault *fault, uint64_t iova, bool write)
{
	if (fault) {
		fault->reason = PT_FAULT_NOT_PRESENT;
		fault->iova = iova;
		fault->write = write;
	}
	return -EFAULT;
}

int iommu_dma_write(struct iommu_dev *dev, uint64_t iova, const void *buf,
		    size_t len, struct pt_fault *fault)
{
	int rc;

	pthread_rwlock_rdlock(&dev->attach_lock);
	if (dev->domain)
		rc = pt_dma_write(dev->domain->pt, iova, buf, len, fault);
	else
		rc = dma_blocked(fault, iova, true);
	pthread_rwlock_unlock(&dev->attach_lock);
	return rc;
}

int iommu_dma_read(struct iommu_dev *dev, uint64_t iova, void *buf,
		   size_t len, struct pt_fault *fault)
{
	int rc;

	pthread_rwlock_rdlock(&dev->attach_lock);
	if (dev->domain)
		rc = pt_dma_read(dev->domain->pt, iova, buf, len, fault);
	else
		rc = dma_blocked(fault, iova, false);
	pthread_rwlock_unlock(&dev->attach_lock);
	return rc;
}
