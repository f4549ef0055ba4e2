/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of catnip/catnip_counters.c, the counters' names for the exit log: the table
 * covers every uint64_t of struct nip_counters exactly once (a counter added to the struct
 * without its name fails here), names are unique, and the log prints every counter with its
 * value.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"

#include "catnip.h"
#include "log_capture.h"

#define NSLOTS (sizeof(struct nip_counters) / sizeof(uint64_t))

/* The name of the counter in slot s, or NULL. */
static const char *name_of(size_t s)
{
	for (size_t i = 0; i < nip_counter_names_len; i++) {
		const struct nip_counter_name *e = &nip_counter_names[i];

		if (s >= e->offset / sizeof(uint64_t) && s < e->offset / sizeof(uint64_t) + e->n)
			return e->name;
	}
	return NULL;
}

static void test_counters_table_covers_struct(void **state)
{
	bool seen[NSLOTS] = {false};
	size_t slots = 0;

	(void)state;
	/* Only counters in the struct: a padding byte or another type would make the sizes
	 * disagree. */
	assert_int_equal(sizeof(struct nip_counters) % sizeof(uint64_t), 0);
	for (size_t i = 0; i < nip_counter_names_len; i++) {
		const struct nip_counter_name *e = &nip_counter_names[i];

		assert_int_equal(e->offset % sizeof(uint64_t), 0);
		assert_true(e->n >= 1);
		for (size_t j = 0; j < e->n; j++) {
			size_t slot = e->offset / sizeof(uint64_t) + j;

			assert_true(slot < NSLOTS);
			if (seen[slot])
				fail_msg("%s: counter %zu is named twice", e->name, slot);
			seen[slot] = true;
		}
		slots += e->n;
	}
	for (size_t s = 0; s < NSLOTS; s++)
		if (!seen[s])
			fail_msg("counter %zu of struct nip_counters (after %s) has no name in "
				 "nip_counter_names",
				 s, s && name_of(s - 1) ? name_of(s - 1) : "?");
	assert_int_equal(slots * sizeof(uint64_t), sizeof(struct nip_counters));
}

static void test_counters_names_unique(void **state)
{
	(void)state;
	for (size_t i = 0; i < nip_counter_names_len; i++)
		for (size_t j = i + 1; j < nip_counter_names_len; j++)
			assert_string_not_equal(nip_counter_names[i].name,
						nip_counter_names[j].name);
}

/* Every counter gets a distinct value; the log must show each as name=value (arrays as
 * v0/v1/...). */
static void test_counters_log_prints_every_counter(void **state)
{
	struct nip_counters c;
	uint64_t *slot = (uint64_t *)&c;
	struct log_capture cap;

	(void)state;
	for (size_t s = 0; s < NSLOTS; s++)
		slot[s] = 1000000 + s;
	log_capture_begin(&cap, DEMI__LOG_INFO);
	nip_counters_log(&c);
	log_capture_end(&cap);
	for (size_t i = 0; i < nip_counter_names_len; i++) {
		const struct nip_counter_name *e = &nip_counter_names[i];
		char want[512];
		size_t n = (size_t)snprintf(want, sizeof(want), " %s=", e->name);

		for (size_t j = 0; j < e->n; j++)
			n += (size_t)snprintf(want + n, sizeof(want) - n, "%s%zu", j ? "/" : "",
					      (size_t)(1000000 + e->offset / sizeof(uint64_t) + j));
		if (!strstr(cap.text, want))
			fail_msg("the log lacks \"%s\"", want);
	}
	/* Nothing at the default level (warn). */
	log_capture_free(&cap);
	log_capture_begin(&cap, DEMI__LOG_WARN);
	nip_counters_log(&c);
	log_capture_end(&cap);
	assert_string_equal(cap.text, "");
	log_capture_free(&cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_table_covers_struct),
		cmocka_unit_test(test_counters_names_unique),
		cmocka_unit_test(test_counters_log_prints_every_counter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
