// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmig_main.c: the /dev/kmig misc device and its ioctls (ABI in
 * include/uapi/linux/kmig.h).  kmigd opens it, does the KMIG_IOC_API
 * handshake, tracks each RAM block by its memfd and offset, and harvests
 * dirty bitmaps with no fault taken by the workload.  This file only
 * copies, checks and dispatches; the page work is in kmig_harvest.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kmig_core.h"

#if !IS_ENABLED(CONFIG_MAPPING_DIRTY_HELPERS)
/* Debian's -amd64 flavour has it (DRM_VMWGFX selects it), -cloud-amd64 does not */
#error "kmig needs CONFIG_MAPPING_DIRTY_HELPERS=y"
#endif

/* copy bounce buffer for the bitmap, in u64 words */
#define KMIG_COPY_WORDS	512

#define KMIG_IOCTLS	(KMIG_IOCTL_BIT(_IOC_NR(KMIG_IOC_TRACK)) |	\
			 KMIG_IOCTL_BIT(_IOC_NR(KMIG_IOC_HARVEST)) |	\
			 KMIG_IOCTL_BIT(_IOC_NR(KMIG_IOC_STATS)) |	\
			 KMIG_IOCTL_BIT(_IOC_NR(KMIG_IOC_UNTRACK)))

/*
 * Reads the argsz that starts every struct, then the struct with the
 * copy_struct_from_user() growth rules.  0 or -errno.
 */
static int kmig_copy_in(void *k, size_t ksize, size_t minsz, const void __user *u,
			u32 *usize)
{
	u32 argsz;

	if (get_user(argsz, (const u32 __user *)u))
		return -EFAULT;
	if (argsz < minsz)
		return -EINVAL;
	if (argsz > PAGE_SIZE)
		return -E2BIG;
	*usize = argsz;
	return copy_struct_from_user(k, ksize, u, argsz);
}

/* writes back at most what userspace said it has */
static int kmig_copy_out(void __user *u, const void *k, size_t ksize, u32 usize)
{
	return copy_to_user(u, k, min_t(size_t, ksize, usize)) ? -EFAULT : 0;
}

static long kmig_ioc_api(struct kmig_ctx *ctx, void __user *u)
{
	struct kmig_api a;
	u32 usize;
	int ret;

	ret = kmig_copy_in(&a, sizeof(a), KMIG_API_SIZE_VER0, u, &usize);
	if (ret)
		return ret;
	ret = ctx->api_done ? -EINVAL : kmig_check_api(&a);
	if (ret) {
		/* as UFFDIO_API: a refused handshake answers all zeroes */
		memset(&a, 0, sizeof(a));
		a.argsz = usize;
		return kmig_copy_out(u, &a, sizeof(a), usize) ?: ret;
	}
	a.features = KMIG_FEATURES;
	a.ioctls = KMIG_IOCTLS;
	ret = kmig_copy_out(u, &a, sizeof(a), usize);
	if (!ret)
		ctx->api_done = true;
	return ret;
}

/* who may track a file: see "Access control" in docs/kmod.md */
static int kmig_may_track(struct file *f)
{
	if (!(f->f_mode & FMODE_WRITE))
		return -EBADF;
	if (!shmem_mapping(f->f_mapping))
		return -EINVAL;
	if (!uid_eq(current_fsuid(), file_inode(f)->i_uid) && !capable(CAP_SYS_ADMIN))
		return -EPERM;
	return 0;
}

static long kmig_ioc_track(struct kmig_ctx *ctx, void __user *u)
{
	struct kmig_range *r;
	struct kmig_track t;
	struct file *f;
	u32 usize;
	int ret;

	ret = kmig_copy_in(&t, sizeof(t), KMIG_TRACK_SIZE_VER0, u, &usize);
	if (ret)
		return ret;
	if (t.flags || t.pad)
		return -EINVAL;
	f = fget(t.fd);
	if (!f)
		return -EBADF;
	ret = kmig_may_track(f);
	if (ret)
		goto out_fput;
	ret = kmig_check_track(&t, i_size_read(file_inode(f)));
	if (ret)
		goto out_fput;
	if (ctx->nranges >= KMIG_MAX_RANGES) {
		ret = -ENOSPC;
		goto out_fput;
	}
	r = kmig_range_new(f, t.offset >> PAGE_SHIFT, t.length >> PAGE_SHIFT);
	if (!r) {
		ret = -ENOMEM;
		goto out_fput;
	}
	ret = kmig_registry_add(r);
	if (ret)
		goto out_free;
	ret = kmig_ctx_add(ctx, r);
	if (ret)
		goto out_unreg;
	t.id = r->id;
	t.pad2 = 0;
	ret = kmig_copy_out(u, &t, sizeof(t), usize);
	if (ret)
		goto out_remove;
	fput(f);
	return 0;

out_remove:
	kmig_ctx_remove(ctx, r);
out_unreg:
	kmig_registry_del(r);
out_free:
	kmig_range_free(r);
out_fput:
	fput(f);
	return ret;
}

/* the pending bitmap to userspace, in __u64 words; 0 or -EFAULT */
static int kmig_bitmap_to_user(u64 __user *dst, const unsigned long *src, pgoff_t nbits)
{
	pgoff_t done = 0;
	u64 *buf;
	int ret = 0;

	buf = kmalloc_array(KMIG_COPY_WORDS, sizeof(u64), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	while (done < nbits) {
		pgoff_t n = min_t(pgoff_t, nbits - done, KMIG_COPY_WORDS * 64);

		kmig_bitmap_pack(buf, src + done / BITS_PER_LONG, n);
		if (copy_to_user(dst + done / 64, buf, DIV_ROUND_UP(n, 64) * sizeof(u64))) {
			ret = -EFAULT;
			break;
		}
		done += n;
	}
	kfree(buf);
	return ret;
}

static long kmig_ioc_harvest(struct kmig_ctx *ctx, void __user *u)
{
	struct kmig_harvest h;
	struct kmig_range *r;
	u64 t0 = ktime_get_ns();
	u32 usize;
	long n;
	int ret;

	ret = kmig_copy_in(&h, sizeof(h), KMIG_HARVEST_SIZE_VER0, u, &usize);
	if (ret)
		return ret;
	r = kmig_ctx_find(ctx, h.id);
	if (!r)
		return -ENOENT;
	ret = kmig_check_harvest(&h, r->npages);
	if (ret)
		return ret;
	n = kmig_range_collect(r);
	if (n < 0)
		return n;
	/* on EFAULT the bits stay pending for the next harvest */
	ret = kmig_bitmap_to_user(u64_to_user_ptr(h.bitmap), r->pending, r->npages);
	if (ret)
		return ret;
	h.dirty = bitmap_weight(r->pending, r->npages);
	bitmap_zero(r->pending, r->npages);
	h.harvest_ns = ktime_get_ns() - t0;
	r->st.harvests++;
	r->st.pages_scanned += r->npages;
	r->st.pages_dirty += h.dirty;
	r->st.harvest_ns += h.harvest_ns;
	return kmig_copy_out(u, &h, sizeof(h), usize);
}

static long kmig_ioc_stats(struct kmig_ctx *ctx, void __user *u)
{
	struct kmig_range *r;
	struct kmig_stats s;
	u32 usize;
	int ret;

	ret = kmig_copy_in(&s, sizeof(s), KMIG_STATS_SIZE_VER0, u, &usize);
	if (ret)
		return ret;
	r = kmig_ctx_find(ctx, s.id);
	if (!r)
		return -ENOENT;
	s.harvests = r->st.harvests;
	s.pages_scanned = r->st.pages_scanned;
	s.pages_dirty = r->st.pages_dirty;
	s.harvest_ns = r->st.harvest_ns;
	s.thp_chunks = r->st.thp_chunks;
	return kmig_copy_out(u, &s, sizeof(s), usize);
}

static void kmig_untrack(struct kmig_ctx *ctx, struct kmig_range *r)
{
	kmig_ctx_remove(ctx, r);
	kmig_registry_del(r);
	kmig_range_free(r);
}

static long kmig_ioc_untrack(struct kmig_ctx *ctx, void __user *u)
{
	struct kmig_untrack x;
	struct kmig_range *r;
	u32 usize;
	int ret;

	ret = kmig_copy_in(&x, sizeof(x), KMIG_UNTRACK_SIZE_VER0, u, &usize);
	if (ret)
		return ret;
	r = kmig_ctx_find(ctx, x.id);
	if (!r)
		return -ENOENT;
	kmig_untrack(ctx, r);
	return 0;
}

static long kmig_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kmig_ctx *ctx = file->private_data;
	void __user *u = (void __user *)arg;
	long ret;

	mutex_lock(&ctx->lock);
	if (cmd == KMIG_IOC_API) {
		ret = kmig_ioc_api(ctx, u);
		goto out;
	}
	switch (cmd) {
	case KMIG_IOC_TRACK:
	case KMIG_IOC_HARVEST:
	case KMIG_IOC_STATS:
	case KMIG_IOC_UNTRACK:
		if (!ctx->api_done) {
			ret = -EINVAL;
			goto out;
		}
		break;
	default:
		ret = -ENOTTY;
		goto out;
	}
	switch (cmd) {
	case KMIG_IOC_TRACK:
		ret = kmig_ioc_track(ctx, u);
		break;
	case KMIG_IOC_HARVEST:
		ret = kmig_ioc_harvest(ctx, u);
		break;
	case KMIG_IOC_STATS:
		ret = kmig_ioc_stats(ctx, u);
		break;
	default:
		ret = kmig_ioc_untrack(ctx, u);
		break;
	}
out:
	mutex_unlock(&ctx->lock);
	return ret;
}

static int kmig_open(struct inode *inode, struct file *file)
{
	struct kmig_ctx *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);

	if (!ctx)
		return -ENOMEM;
	mutex_init(&ctx->lock);
	file->private_data = ctx;
	return 0;
}

static int kmig_release(struct inode *inode, struct file *file)
{
	struct kmig_ctx *ctx = file->private_data;
	unsigned int i;

	for (i = 0; i < KMIG_MAX_RANGES; i++)
		if (ctx->ranges[i])
			kmig_untrack(ctx, ctx->ranges[i]);
	mutex_destroy(&ctx->lock);
	kfree(ctx);
	return 0;
}

static const struct file_operations kmig_fops = {
	.owner		= THIS_MODULE,
	.open		= kmig_open,
	.release	= kmig_release,
	.unlocked_ioctl	= kmig_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

/* mode 0600: root opens it; access to each file is checked per TRACK */
static struct miscdevice kmig_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kmig",
	.fops	= &kmig_fops,
	.mode	= 0600,
};

static int __init kmig_init(void)
{
	int ret = misc_register(&kmig_misc);

	if (ret)
		pr_err("cannot register /dev/kmig: %d\n", ret);
	return ret;
}

static void __exit kmig_exit(void)
{
	misc_deregister(&kmig_misc);
}

module_init(kmig_init);
module_exit(kmig_exit);
MODULE_DESCRIPTION("kmig: fault-free dirty page tracking of memfd RAM blocks");
MODULE_LICENSE("GPL");
