/* SPDX-License-Identifier: MIT */
/* YAML configuration with environment overrides. See config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "log.h"

#define MAX_DEPTH 16

static struct demi__config_entry *entry_add(struct demi__config *cfg, const char *key)
{
	if (cfg->n == cfg->cap) {
		size_t cap = cfg->cap ? cfg->cap * 2 : 32;
		struct demi__config_entry *e = realloc(cfg->entries, cap * sizeof(*e));

		if (!e)
			return NULL;
		cfg->entries = e;
		cfg->cap = cap;
	}
	struct demi__config_entry *e = &cfg->entries[cfg->n];
	memset(e, 0, sizeof(*e));
	e->key = strdup(key);
	if (!e->key)
		return NULL;
	cfg->n++;
	return e;
}

static struct demi__config_entry *entry_find(const struct demi__config *cfg, const char *key)
{
	/* Later entries win, so a key repeated in the file takes its last value. */
	for (size_t i = cfg->n; i-- > 0;)
		if (!strcmp(cfg->entries[i].key, key))
			return &cfg->entries[i];
	return NULL;
}

static int list_append(struct demi__config_entry *e, const char *v)
{
	char **items = realloc(e->items, (e->nitems + 1) * sizeof(*items));

	if (!items)
		return -ENOMEM;
	e->items = items;
	if (!(items[e->nitems] = strdup(v)))
		return -ENOMEM;
	e->nitems++;
	return 0;
}

/* Frame of the parse: a mapping (with the key waiting for its value) or a sequence. */
struct frame {
	bool is_seq;
	char *key;			 /* mapping: the key read, waiting for a value */
	struct demi__config_entry *list; /* sequence: where items go */
};

static char *join(struct frame *st, int depth, const char *last)
{
	size_t len = strlen(last) + 1;

	for (int i = 0; i < depth; i++)
		if (st[i].key)
			len += strlen(st[i].key) + 1;
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	for (int i = 0; i < depth; i++) {
		if (st[i].key) {
			p += sprintf(p, "%s.", st[i].key);
		}
	}
	strcpy(p, last);
	return s;
}

static int parse_events(struct demi__config *cfg, yaml_parser_t *parser, const char *origin)
{
	struct frame st[MAX_DEPTH];
	int depth = 0, rc = 0;
	bool done = false;

	memset(st, 0, sizeof(st));
	while (!done && rc == 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(parser, &ev)) {
			DEMI_ERR("config %s: YAML error at line %zu: %s", origin,
				 parser->problem_mark.line + 1,
				 parser->problem ? parser->problem : "unknown");
			rc = -EINVAL;
			break;
		}
		struct frame *top = depth > 0 ? &st[depth - 1] : NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT: {
			bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
			if (depth == MAX_DEPTH || (top && top->is_seq) || (top && !top->key) ||
			    (!top && seq)) {
				DEMI_ERR("config %s: unsupported structure at line %zu (nested too "
					 "deep, a list of lists or maps, or a top-level list)",
					 origin, ev.start_mark.line + 1);
				rc = -EINVAL;
				break;
			}
			memset(&st[depth], 0, sizeof(st[depth]));
			st[depth].is_seq = seq;
			if (seq) {
				char *k = join(st, depth - 1, top->key);
				st[depth].list = k ? entry_add(cfg, k) : NULL;
				free(k);
				if (!st[depth].list)
					rc = -ENOMEM;
			}
			depth++;
			break;
		}
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (depth > 0) {
				free(st[depth - 1].key);
				st[depth - 1].key = NULL;
				depth--;
				if (depth > 0) {
					free(st[depth - 1].key);
					st[depth - 1].key = NULL;
				}
			}
			break;
		case YAML_SCALAR_EVENT: {
			const char *v = (const char *)ev.data.scalar.value;
			if (!top) {
				break; /* a document that is a bare scalar: nothing to configure */
			}
			if (top->is_seq) {
				rc = list_append(top->list, v);
			} else if (!top->key) {
				if (!(top->key = strdup(v)))
					rc = -ENOMEM;
			} else {
				char *k = join(st, depth - 1, top->key);
				struct demi__config_entry *e = k ? entry_add(cfg, k) : NULL;
				free(k);
				if (!e || !(e->value = strdup(v)))
					rc = -ENOMEM;
				free(top->key);
				top->key = NULL;
			}
			break;
		}
		case YAML_ALIAS_EVENT:
			DEMI_ERR("config %s: YAML aliases are not supported (line %zu)", origin,
				 ev.start_mark.line + 1);
			rc = -EINVAL;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	for (int i = 0; i < MAX_DEPTH; i++)
		free(st[i].key);
	return rc;
}

int demi__config_load_string(struct demi__config *cfg, const char *yaml, const char *origin)
{
	yaml_parser_t parser;
	int rc;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
	rc = parse_events(cfg, &parser, origin);
	yaml_parser_delete(&parser);
	return rc;
}

int demi__config_load(struct demi__config *cfg)
{
	const char *path = getenv("CONFIG_PATH");
	yaml_parser_t parser;
	FILE *f;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!path || !*path)
		return 0;
	f = fopen(path, "r");
	if (!f) {
		DEMI_ERR("CONFIG_PATH=%s: cannot open: %s", path, strerror(errno));
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	rc = parse_events(cfg, &parser, path);
	yaml_parser_delete(&parser);
	fclose(f);
	if (rc == 0)
		cfg->path = strdup(path);
	return rc;
}

void demi__config_fini(struct demi__config *cfg)
{
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->entries[i].key);
		free(cfg->entries[i].value);
		for (size_t j = 0; j < cfg->entries[i].nitems; j++)
			free(cfg->entries[i].items[j]);
		free(cfg->entries[i].items);
	}
	free(cfg->entries);
	free(cfg->path);
	free(cfg->env_list_buf);
	free(cfg->env_list_items);
	memset(cfg, 0, sizeof(*cfg));
}

static const char *env_for(const char *key)
{
	char name[128];
	size_t i;

	for (i = 0; key[i] && i + 1 < sizeof(name); i++)
		name[i] = key[i] == '.' ? '_' : (char)toupper((unsigned char)key[i]);
	name[i] = 0;
	return getenv(name);
}

const char *demi__config_get(struct demi__config *cfg, const char *key)
{
	const char *env = env_for(key);
	struct demi__config_entry *e;

	if (env)
		return env;
	e = entry_find(cfg, key);
	return e ? e->value : NULL;
}

char *const *demi__config_get_list(struct demi__config *cfg, const char *key, size_t *n)
{
	const char *env = env_for(key);
	struct demi__config_entry *e;

	*n = 0;
	if (env) {
		size_t cnt = 0;
		char *save = NULL;

		free(cfg->env_list_buf);
		free(cfg->env_list_items);
		cfg->env_list_buf = strdup(env);
		cfg->env_list_items = calloc(strlen(env) / 2 + 2, sizeof(char *));
		if (!cfg->env_list_buf || !cfg->env_list_items)
			return NULL;
		for (char *tok = strtok_r(cfg->env_list_buf, " ", &save); tok;
		     tok = strtok_r(NULL, " ", &save))
			cfg->env_list_items[cnt++] = tok;
		*n = cnt;
		return cfg->env_list_items;
	}
	e = entry_find(cfg, key);
	if (!e || e->value)
		return NULL;
	*n = e->nitems;
	return e->items;
}

int demi__config_foreach(struct demi__config *cfg, const char *key,
			 int (*fn)(void *arg, const char *name, const char *value), void *arg)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < cfg->n; i++) {
		const struct demi__config_entry *e = &cfg->entries[i];
		if (e->value && !strncmp(e->key, key, klen) && e->key[klen] == '.') {
			int rc = fn(arg, e->key + klen + 1, e->value);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static const char *origin_of(struct demi__config *cfg, const char *key)
{
	return env_for(key) ? "environment" : cfg->path ? cfg->path : "config";
}

/* A key given in the file as a list or a mapping where a single value is expected. */
static bool not_scalar(struct demi__config *cfg, const char *key)
{
	struct demi__config_entry *e;
	size_t klen = strlen(key);

	if (env_for(key))
		return false;
	if ((e = entry_find(cfg, key)))
		return e->value == NULL;
	for (size_t i = 0; i < cfg->n; i++)
		if (!strncmp(cfg->entries[i].key, key, klen) && cfg->entries[i].key[klen] == '.')
			return true;
	return false;
}

static int scalar(struct demi__config *cfg, const char *key, const char **v)
{
	if (not_scalar(cfg, key)) {
		DEMI_ERR("%s: %s must be a single value, not a list or a mapping",
			 origin_of(cfg, key), key);
		return -EINVAL;
	}
	*v = demi__config_get(cfg, key);
	return 0;
}

int demi__config_get_str(struct demi__config *cfg, const char *key, const char *def,
			 const char **out)
{
	const char *v;
	int rc = scalar(cfg, key, &v);

	*out = v ? v : def;
	return rc;
}

int demi__config_get_bool(struct demi__config *cfg, const char *key, bool def, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on", NULL};
	static const char *const no[] = {"0", "false", "no", "off", NULL};
	const char *v;

	*out = def;
	if (scalar(cfg, key, &v) < 0)
		return -EINVAL;
	if (!v)
		return 0;
	for (int i = 0; yes[i]; i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	DEMI_ERR("%s: %s=\"%s\" is not a boolean (true/false)", origin_of(cfg, key), key, v);
	return -EINVAL;
}

int demi__config_get_u64(struct demi__config *cfg, const char *key, uint64_t def, uint64_t min,
			 uint64_t max, uint64_t *out)
{
	const char *v;
	char *end;
	unsigned long long x;

	*out = def;
	if (scalar(cfg, key, &v) < 0)
		return -EINVAL;
	if (!v)
		return 0;
	/* Decimal, or hexadecimal with 0x; no sign, no blanks (strtoull would take both). */
	bool hex = v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
	unsigned char first = (unsigned char)v[hex ? 2 : 0];
	bool starts_ok = hex ? isxdigit(first) : isdigit(first);

	errno = 0;
	x = strtoull(v, &end, hex ? 16 : 10);
	if (!starts_ok || errno || *end || x < min || x > max) {
		DEMI_ERR("%s: %s=\"%s\" is not an integer in [%llu, %llu]", origin_of(cfg, key),
			 key, v, (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

int demi__config_get_choice(struct demi__config *cfg, const char *key, const char *const *choices,
			    int def, int *out)
{
	const char *v;
	char all[256] = "";

	*out = def;
	if (scalar(cfg, key, &v) < 0)
		return -EINVAL;
	if (!v)
		return 0;
	for (int i = 0; choices[i]; i++) {
		if (!strcasecmp(v, choices[i])) {
			*out = i;
			return 0;
		}
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", i ? ", " : "",
			 choices[i]);
	}
	DEMI_ERR("%s: %s=\"%s\" is not one of: %s", origin_of(cfg, key), key, v, all);
	return -EINVAL;
}
