/* SPDX-License-Identifier: MIT */
/*
 * Configuration: the YAML file named by CONFIG_PATH (parsed with libyaml), overridden key by
 * key by environment variables. A key is a dotted path through the YAML mappings, e.g.
 * "catnap.engine" or "demikernel.local_ipv4_addr"; its environment variable is the path in upper
 * case with dots turned into underscores (CATNAP_ENGINE, DEMIKERNEL_LOCAL_IPV4_ADDR). Sequences
 * (e.g. dpdk.eal_init) are lists of strings; an environment override of a list is split on
 * spaces.
 *
 * Typed getters validate: a malformed value is an error (-EINVAL, logged with the key and
 * where it came from), never silently replaced by the default.
 */
#ifndef DEMI__CONFIG_H
#define DEMI__CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct demi__config_entry {
	char *key;    /* dotted path */
	char *value;  /* scalar value, or NULL for a list */
	char **items; /* list items */
	size_t nitems;
};

struct demi__config {
	struct demi__config_entry *entries;
	size_t n;
	size_t cap;
	char *path; /* file it came from, or NULL */
	/* Storage for the last environment list override handed out. */
	char *env_list_buf;
	char **env_list_items;
};

/* Reads CONFIG_PATH if set. 0, or -EINVAL (unreadable or malformed file; logged). */
int demi__config_load(struct demi__config *cfg);
/* Parses YAML text (tests). 0 or -EINVAL. */
int demi__config_load_string(struct demi__config *cfg, const char *yaml, const char *origin);
void demi__config_fini(struct demi__config *cfg);

/* The scalar at key (environment first), or NULL if absent. */
const char *demi__config_get(struct demi__config *cfg, const char *key);
/* The list at key (environment first, split on spaces); *n = 0 and NULL if absent. The result
 * stays valid until the next call. */
char *const *demi__config_get_list(struct demi__config *cfg, const char *key, size_t *n);
/* Calls fn for every scalar directly under the mapping at key (e.g. arp_table entries) from
 * the file. Returns the first non-zero value fn returns, else 0. */
int demi__config_foreach(struct demi__config *cfg, const char *key,
			 int (*fn)(void *arg, const char *name, const char *value), void *arg);

/* The scalar at key, or def when absent; -EINVAL (logged) when the key holds a list or a
 * mapping. */
int demi__config_get_str(struct demi__config *cfg, const char *key, const char *def,
			 const char **out);
int demi__config_get_bool(struct demi__config *cfg, const char *key, bool def, bool *out);
int demi__config_get_u64(struct demi__config *cfg, const char *key, uint64_t def, uint64_t min,
			 uint64_t max, uint64_t *out);
/* One of choices (NULL-terminated); *out = its index. Absent: *out = def. */
int demi__config_get_choice(struct demi__config *cfg, const char *key, const char *const *choices,
			    int def, int *out);

#endif
