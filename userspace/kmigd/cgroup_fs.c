// SPDX-License-Identifier: GPL-2.0-only
/*
 * cgroup_fs.c: cgroupfs plumbing for the cgroup throttle (cgroup_fs.h).
 * Kept apart from the throttle's policy (throttle_cgroup.c) because both
 * the throttle and the clean-up of what a dead kmigd left need it, and
 * because the rules it encodes are the kernel's, not kmig's: mountinfo's
 * escaping, /proc/PID/cgroup's format for v1 and v2, and v2's "no
 * processes in a cgroup whose children use a controller".
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup_fs.h"
#include "log.h"

#define MOVE_ROUNDS 20		/* passes over a cgroup's task list while emptying it */

/* ---- small file helpers ---- */

int kmig_cgfs_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* the whole (small) file, NUL-terminated; length or -errno */
ssize_t kmig_cgfs_read(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = 0, r;

	if (fd < 0)
		return -errno;
	while (got < (ssize_t)n - 1 && (r = read(fd, buf + got, n - 1 - (size_t)got)) > 0)
		got += r;
	close(fd);
	buf[got] = 0;
	return got;
}

/* @word appears in the @sep-separated list @list */
bool kmig_cgfs_has_word(const char *list, const char *word, const char *sep)
{
	size_t w = strlen(word);

	for (const char *p = list; *p; p += strspn(p, sep)) {
		size_t l = strcspn(p, sep);

		if (l == w && !strncmp(p, word, w))
			return true;
		p += l;
	}
	return false;
}

int kmig_cgfs_join(char *out, size_t n, const char *a, const char *b)
{
	return snprintf(out, n, "%s/%s", a, b) >= (int)n ? -ENAMETOOLONG : 0;
}

/* ---- finding the hierarchy ---- */

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && isdigit((unsigned char)s[2]) &&
		    isdigit((unsigned char)s[3])) {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

int kmig_cg_parse_mountinfo(FILE *f, struct kmig_cg_mount *v2, struct kmig_cg_mount *v1)
{
	char *line = NULL;
	size_t cap = 0;

	memset(v2, 0, sizeof(*v2));
	memset(v1, 0, sizeof(*v1));
	while (getline(&line, &cap, f) > 0) {
		char root[PATH_MAX], mnt[PATH_MAX], fstype[64], opts[1024];
		const char *dash = strstr(line, " - ");
		struct kmig_cg_mount *m;

		/* id parent maj:min root mountpoint options [optional...] - fstype source super */
		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", fstype, opts) != 2)
			continue;
		if (!strcmp(fstype, "cgroup2"))
			m = v2;
		else if (!strcmp(fstype, "cgroup") && kmig_cgfs_has_word(opts, "cpu", ","))
			m = v1;
		else
			continue;
		if (m->version)
			continue;	/* the first one wins */
		unescape(root);
		unescape(mnt);
		m->version = m == v2 ? 2 : 1;
		snprintf(m->path, sizeof(m->path), "%s", mnt);
		snprintf(m->root, sizeof(m->root), "%s", root);
	}
	free(line);
	return ferror(f) ? -EIO : 0;
}

int kmig_cg_find(struct kmig_cg_mount *m, char *err, size_t n)
{
	struct kmig_cg_mount v2, v1;
	char path[PATH_MAX + 32], ctl[512];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int r;

	if (!f) {
		r = -errno;
		snprintf(err, n, "cannot read /proc/self/mountinfo: %s", strerror(-r));
		return r;
	}
	r = kmig_cg_parse_mountinfo(f, &v2, &v1);
	fclose(f);
	if (r) {
		snprintf(err, n, "cannot read /proc/self/mountinfo: %s", strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "%s/cgroup.controllers", v2.path);
	if (v2.version && kmig_cgfs_read(path, ctl, sizeof(ctl)) >= 0 &&
	    kmig_cgfs_has_word(ctl, "cpu", " \n")) {
		*m = v2;
		return 0;
	}
	if (v1.version) {
		*m = v1;
		return 0;
	}
	snprintf(err, n, "no cgroup hierarchy with the cpu controller is mounted (cgroup2 %s, "
		 "v1 cpu: none)", v2.version ? "without cpu" : "not mounted");
	return -ENOENT;
}

/* the directory of cgroup @cg (a path as /proc/PID/cgroup shows it) under @m */
static int cg_dir(const struct kmig_cg_mount *m, const char *cg, char *out, size_t n)
{
	size_t rl = strlen(m->root);

	if (strcmp(m->root, "/")) {
		if (strncmp(cg, m->root, rl) || (cg[rl] && cg[rl] != '/'))
			return -ENOENT;	/* outside what is mounted here */
		cg += rl;
	}
	while (*cg == '/')
		cg++;
	if (!*cg)
		return snprintf(out, n, "%s", m->path) >= (int)n ? -ENAMETOOLONG : 0;
	return kmig_cgfs_join(out, n, m->path, cg);
}

/* the cgroup directory /proc/... @cgfile names for @m's hierarchy */
int kmig_cgfs_task_dir(const struct kmig_cg_mount *m, const char *cgfile, char *out, size_t n)
{
	char buf[8192], *line, *save = NULL;

	if (kmig_cgfs_read(cgfile, buf, sizeof(buf)) < 0)
		return -errno ? -errno : -ESRCH;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		*c2 = 0;
		if (m->version == 2 ? !strcmp(line, "0") && c2 == c1 + 1
				    : kmig_cgfs_has_word(c1 + 1, "cpu", ","))
			return cg_dir(m, c2 + 1, out, n);
	}
	return -ENOENT;
}

/* ---- processes ---- */

/* state and start time (field 22) from /proc/@pid/stat; 0 or -errno */
int kmig_cgfs_proc_stat(pid_t pid, char *state, unsigned long long *start,
		     unsigned long long *ticks)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st, sta;
	char s;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (kmig_cgfs_read(path, buf, sizeof(buf)) < 0)
		return -errno;
	p = strrchr(buf, ')');	/* comm may hold anything, even ')' */
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
			 "%*d %*d %*d %*d %llu", &s, &ut, &st, &sta) != 4)
		return -EIO;
	if (state)
		*state = s;
	if (start)
		*start = sta;
	if (ticks)
		*ticks = ut + st;
	return 0;
}

unsigned long long kmig_cg_self_start(void)
{
	unsigned long long s = 0;

	return kmig_cgfs_proc_stat(getpid(), NULL, &s, NULL) ? 0 : s;
}

/* the owner of a kmig cgroup still runs (a zombie does not) */
bool kmig_cgfs_owner_alive(pid_t pid, unsigned long long start)
{
	unsigned long long s;
	char st;

	return pid > 0 && !kmig_cgfs_proc_stat(pid, &st, &s, NULL) && s == start &&
	       st != 'Z' && st != 'X';
}

/* ---- moving tasks ---- */

static const char *procs_file(const struct kmig_cg_mount *m)
{
	return m->version == 2 ? "cgroup.procs" : "tasks";
}

/* writes @id into @dir's task (v1) or process (v2) list */
int kmig_cgfs_move_to(const struct kmig_cg_mount *m, const char *dir, pid_t id)
{
	char path[PATH_MAX + 32], num[16];

	snprintf(path, sizeof(path), "%s/%s", dir, procs_file(m));
	snprintf(num, sizeof(num), "%d", (int)id);
	return kmig_cgfs_write(path, num);
}

/* other subdirectories than @skip in @dir */
bool kmig_cgfs_has_other_children(const char *dir, const char *skip)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool other = false;

	if (!d)
		return false;
	while (!other && (e = readdir(d)))
		other = e->d_type == DT_DIR && e->d_name[0] != '.' && strcmp(e->d_name, skip);
	closedir(d);
	return other;
}

/*
 * Moves @id back into @home (the cgroup a kmig cgroup @dir hangs off), or
 * @first if given and possible.  v2: a non-root @home that now has cpu
 * enabled for children refuses processes (EBUSY); if our cgroup is its
 * only child, disable it there again.  Last resort: the hierarchy's root.
 */
static int move_back(const struct kmig_cg_mount *m, const char *home, const char *dir,
		     const char *first, pid_t id)
{
	int r = first ? kmig_cgfs_move_to(m, first, id) : -ENOENT;

	if (r)
		r = kmig_cgfs_move_to(m, home, id);
	if (r == -EBUSY && m->version == 2 &&
	    !kmig_cgfs_has_other_children(home, strrchr(dir, '/') + 1)) {
		char ctl[PATH_MAX + 32];

		snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", home);
		if (!kmig_cgfs_write(ctl, "-cpu"))
			r = kmig_cgfs_move_to(m, home, id);
	}
	if (r && r != -ESRCH) {
		kmig_log(KMIG_LOG_WARN, "throttle", "cannot move %d back to %s (%s): moving it to %s",
			 (int)id, home, strerror(-r), m->path);
		r = kmig_cgfs_move_to(m, m->path, id);
	}
	return r == -ESRCH ? 0 : r;	/* a task that exited is where it belongs */
}

int kmig_cgfs_empty_and_remove(const struct kmig_cg_mount *m, const char *home, const char *dir,
			       const struct kmig_cg_orig *orig, size_t norig)
{
	char path[PATH_MAX + 32], ctl[PATH_MAX + 32], buf[65536];
	int r = 0, rounds;

	/*
	 * Lift the quota first: that unthrottles the group at once.  A task moved
	 * out of a group that is throttled at that moment can stay off the CPU
	 * far longer than one period (seen here: ~1 s of a 100 ms period).
	 */
	if (m->version == 2)
		snprintf(ctl, sizeof(ctl), "%s/cpu.max", dir);
	else
		snprintf(ctl, sizeof(ctl), "%s/cpu.cfs_quota_us", dir);
	kmig_cgfs_write(ctl, m->version == 2 ? "max" : "-1");	/* best effort: moving still follows */
	snprintf(path, sizeof(path), "%s/%s", dir, procs_file(m));
	for (rounds = 0; rounds < MOVE_ROUNDS; rounds++) {
		ssize_t len = kmig_cgfs_read(path, buf, sizeof(buf));
		char *p = buf, *end;

		if (len < 0)
			return len == -ENOENT ? 0 : (int)len;	/* removed by someone else */
		if (!len)
			break;
		if (len == (ssize_t)sizeof(buf) - 1) {
			/* more than fits: never act on a number cut in half */
			char *nl = strrchr(buf, '\n');

			if (!nl)
				return -E2BIG;
			nl[1] = 0;
		}
		for (long id; (id = strtol(p, &end, 10)) > 0; p = end) {
			const char *first = NULL;

			for (size_t i = 0; i < norig; i++)
				if (orig[i].tid == id)
					first = orig[i].dir;
			r = move_back(m, home, dir, first, (pid_t)id);
			if (r)
				break;
		}
		if (r)
			break;
	}
	if (rounds == MOVE_ROUNDS && !r)
		r = -EBUSY;	/* tasks keep appearing */
	/* a task that just exited may keep the cgroup busy for a moment */
	for (int i = 0; !r; i++) {
		if (!rmdir(dir) || errno == ENOENT)
			break;
		if (errno != EBUSY || i == 50) {
			r = -errno;
			break;
		}
		usleep(10000);
	}
	/* v2: nothing of ours below @home needs its cpu controller any more */
	snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", home);
	if (!r && m->version == 2 && strcmp(home, m->path) &&
	    !kmig_cgfs_has_other_children(home, ""))
		kmig_cgfs_write(ctl, "-cpu");
	return r;
}
