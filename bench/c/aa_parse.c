/*
 * The anchor of bench/run.py: libapparmor's C parse_record() over the candidate
 * lines of an audit log, as aa-logprof and the performance anchors use it.
 *
 * Reads FILE in fixed 8 MiB blocks (never the whole file), splits lines with memchr,
 * keeps only candidate lines (those containing "apparmor=" or starting with
 * "type=APPARMOR", the pre-filter of performance.md), NUL-terminates each candidate
 * in place and calls parse_record()/free_record() on it. Prints one JSON object:
 * counts per event type and the wall time of the loop (monotonic clock, excluding
 * process start). -v lists each candidate's event on stderr; -f prints every parsed
 * field of each valid record (hex values) on stdout, for the differential test
 * tests/fuzz/test_libapparmor_diff.py. Build: gcc -O2 -o aa_parse aa_parse.c -lapparmor
 */
#define _GNU_SOURCE
#include <aalogparse/aalogparse.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (8u << 20)

static const char *EVENT_NAMES[] = {"invalid", "error", "audit", "allowed",
                                    "denied",  "hint",  "status"};
#define N_EVENTS (sizeof EVENT_NAMES / sizeof EVENT_NAMES[0])

static int verbose; /* -v: print "EVENT<TAB>line" per candidate on stderr */
static int fields;  /* -f: print "LINENO<TAB>key=HEX..." per candidate on stdout */

static void put_hex(const char *key, const char *value)
{
	if (value == NULL)
		return;
	printf("\t%s=", key);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		printf("%02X", *p);
}

static void put_num(const char *key, unsigned long value, unsigned long unset)
{
	char buf[32];
	if (value == unset)
		return;
	snprintf(buf, sizeof buf, "%ld", (long)value);
	put_hex(key, buf);
}

/* Every field of the record that is set, values hex-encoded so any byte survives. */
static void dump(unsigned long long lineno, const aa_log_record *r, const char *event)
{
	printf("%llu", lineno);
	put_hex("event", event);
	put_hex("operation", r->operation);
	put_hex("profile", r->profile);
	put_hex("name", r->name);
	put_hex("name2", r->name2);
	put_hex("comm", r->comm);
	put_hex("denied_mask", r->denied_mask);
	put_hex("requested_mask", r->requested_mask);
	put_num("fsuid", r->fsuid, (unsigned long)-1);
	put_num("ouid", r->ouid, (unsigned long)-1);
	put_num("pid", r->pid, 0);
	put_hex("peer_profile", r->peer_profile);
	put_hex("peer", r->peer);
	put_hex("info", r->info);
	put_num("error_code", (unsigned long)(long)r->error_code, 0);
	put_hex("net_family", r->net_family);
	put_hex("net_sock_type", r->net_sock_type);
	put_hex("net_protocol", r->net_protocol);
	put_hex("net_local_addr", r->net_local_addr);
	put_num("net_local_port", r->net_local_port, 0);
	put_hex("net_foreign_addr", r->net_foreign_addr);
	put_num("net_foreign_port", r->net_foreign_port, 0);
	put_hex("dbus_bus", r->dbus_bus);
	put_hex("dbus_path", r->dbus_path);
	put_hex("dbus_interface", r->dbus_interface);
	put_hex("dbus_member", r->dbus_member);
	put_hex("signal", r->signal);
	put_hex("fs_type", r->fs_type);
	put_hex("flags", r->flags);
	put_hex("src_name", r->src_name);
	put_hex("namespace", r->namespace);
	putchar('\n');
}
static unsigned long long lines, candidates, bytes_read, events[N_EVENTS];

static int is_candidate(const char *line, size_t len)
{
	if (len >= 13 && memcmp(line, "type=APPARMOR", 13) == 0)
		return 1;
	return memmem(line, len, "apparmor=", 9) != NULL;
}

static void handle(char *line, size_t len)
{
	lines++;
	if (!is_candidate(line, len))
		return;
	candidates++;
	line[len] = '\0'; /* parse_record copies its input; the buffer is ours */
	aa_log_record *rec = parse_record(line);
	if (rec == NULL) {
		events[0]++;
		if (verbose)
			fprintf(stderr, "invalid\t%s\n", line);
		return;
	}
	unsigned ev = (unsigned)rec->event;
	if (ev >= N_EVENTS)
		ev = 0;
	events[ev]++;
	if (verbose)
		fprintf(stderr, "%s\t%s\n", EVENT_NAMES[ev], line);
	if (fields && ev != 0)
		dump(lines, rec, EVENT_NAMES[ev]);
	free_record(rec);
}

/* Peak RSS of this program image (VmHWM, KiB): unlike ru_maxrss it does not include
 * the parent's memory that a fork() before exec() briefly shared. */
static long vm_hwm_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	while (argc == 3 && argv[1][0] == '-') {
		if (strcmp(argv[1], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[1], "-f") == 0)
			fields = 1;
		else
			break;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s [-v|-f] AUDIT_LOG\n", argv[0]);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	/* +1 so a NUL always fits after the last byte of the block */
	char *buf = malloc((size_t)BLOCK * 2 + 1);
	if (buf == NULL)
		return 2;
	struct timespec t0, t1, c0, c1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	size_t have = 0; /* bytes of a partial line carried over at buf[0] */
	for (;;) {
		if (have >= BLOCK) { /* a line longer than a block: grow never, parse as is */
			handle(buf, have);
			have = 0;
		}
		ssize_t n = read(fd, buf + have, BLOCK);
		if (n < 0) {
			fprintf(stderr, "read: %s\n", strerror(errno));
			return 2;
		}
		if (n == 0)
			break;
		bytes_read += (unsigned long long)n;
		size_t end = have + (size_t)n, start = 0;
		char *nl;
		while ((nl = memchr(buf + start, '\n', end - start)) != NULL) {
			size_t len = (size_t)(nl - (buf + start));
			handle(buf + start, len);
			start += len + 1;
		}
		have = end - start;
		memmove(buf, buf + start, have);
	}
	if (have > 0)
		handle(buf, have);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	close(fd);
	free(buf);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
	unsigned long long valid = candidates - events[0];
	FILE *summary = fields ? stderr : stdout;
	fprintf(summary, "{\"seconds\": %.6f, \"cpu_seconds\": %.6f, \"bytes\": %llu, \"lines\": %llu, \"candidates\": %llu, "
	       "\"valid\": %llu, \"vmhwm_kib\": %ld",
	       secs, cpu, bytes_read, lines, candidates, valid, vm_hwm_kib());
	for (size_t i = 0; i < N_EVENTS; i++)
		fprintf(summary, ", \"%s\": %llu", EVENT_NAMES[i], events[i]);
	fprintf(summary, "}\n");
	return 0;
}
