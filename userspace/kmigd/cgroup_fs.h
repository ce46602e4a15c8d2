/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgroup_fs.h: the cgroupfs plumbing under kmigd's cgroup throttle
 * (throttle_cgroup.c): finding the cpu controller's hierarchy in
 * mountinfo, mapping a process's cgroup to a directory, moving tasks
 * between cgroups and emptying one before removing it, and telling whether
 * the kmigd that made a cgroup still runs.  Errors are -errno.
 */
#ifndef KMIG_CGROUP_FS_H
#define KMIG_CGROUP_FS_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/** struct kmig_cg_mount - a cgroup hierarchy as mounted */
struct kmig_cg_mount {
	int version;		/* 1 or 2; 0: none found */
	char path[PATH_MAX];	/* mount point */
	char root[PATH_MAX];	/* the cgroup mounted there (mountinfo's root, usually "/") */
};

/** struct kmig_cg_orig - where a thread was before kmigd moved it (v1) */
struct kmig_cg_orig {
	pid_t tid;
	char *dir;
};

/*
 * Parses a mountinfo file: the first cgroup2 mount into *@v2, the first v1
 * mount with the "cpu" controller into *@v1 (version 0 where none).  0 or
 * -EIO.
 */
int kmig_cg_parse_mountinfo(FILE *f, struct kmig_cg_mount *v2, struct kmig_cg_mount *v1);
/*
 * The hierarchy the throttle uses, from /proc/self/mountinfo: cgroup2 if
 * its root lists the cpu controller in cgroup.controllers, else the v1
 * cpu hierarchy.  0, or -ENOENT with @err saying what is missing.
 */
int kmig_cg_find(struct kmig_cg_mount *m, char *err, size_t n);

/* whole small files; read returns the length (NUL-terminated) */
int kmig_cgfs_write(const char *path, const char *s);
ssize_t kmig_cgfs_read(const char *path, char *buf, size_t n);
/* @word is an element of the @sep-separated @list */
bool kmig_cgfs_has_word(const char *list, const char *word, const char *sep);
/* "@a/@b" into @out, or -ENAMETOOLONG */
int kmig_cgfs_join(char *out, size_t n, const char *a, const char *b);
/* the directory, in @m, of the cgroup a /proc/.../cgroup file @cgfile names */
int kmig_cgfs_task_dir(const struct kmig_cg_mount *m, const char *cgfile, char *out, size_t n);

/* from /proc/@pid/stat: state, start time (field 22), utime + stime; any may be NULL */
int kmig_cgfs_proc_stat(pid_t pid, char *state, unsigned long long *start,
			unsigned long long *ticks);
/* this process's start time, as kmig_cg_cleanup wants it (0 if unknown) */
unsigned long long kmig_cg_self_start(void);
/* the process @pid started at @start still runs (a zombie or a reused pid does not) */
bool kmig_cgfs_owner_alive(pid_t pid, unsigned long long start);

/* writes @id into @dir's "tasks" (v1) or "cgroup.procs" (v2) */
int kmig_cgfs_move_to(const struct kmig_cg_mount *m, const char *dir, pid_t id);
/* @dir has a subdirectory other than @skip */
bool kmig_cgfs_has_other_children(const char *dir, const char *skip);
/*
 * Moves every task of the kmig cgroup @dir back (a v1 thread listed in
 * @orig to its own cgroup, the rest to @home, the parent; the hierarchy's
 * root if that fails) and removes @dir.  0 (also if @dir is already gone)
 * or -errno.
 */
int kmig_cgfs_empty_and_remove(const struct kmig_cg_mount *m, const char *home, const char *dir,
			       const struct kmig_cg_orig *orig, size_t norig);

#endif
