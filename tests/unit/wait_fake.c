/* SPDX-License-Identifier: MIT */
/* The fake libOS of the lib/wait.c tests: see wait_fake.h. */
#include "wait_fake.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "unit.h"

#include <demi/libos.h>

#include "api.h"
#include "debug.h"

struct wait_fake wait_fake;

static struct demi__task *first(struct demi__list *l)
{
	return demi__container_of(l->next, struct demi__task, wait_link);
}

static int fake_pass(void *arg)
{
	struct wait_fake *f = &wait_fake;
	int n = 0;

	(void)arg;
	if (f->clock && f->passes < WAIT_FAKE_LOG) {
		f->now[f->passes] = *wait_fake_now();
		f->read[f->passes] = demi__pass_now(&f->los->rt);
	}
	if (f->on_pass)
		f->on_pass();
	if (++f->passes >= WAIT_FAKE_PASSES_MAX) {
		f->stuck = true;
		f->arrive = INT32_MAX;
	}
	for (; !demi__list_empty(&f->pushes); n++)
		demi__task_complete(first(&f->pushes));
	for (; f->arrive > 0 && !demi__list_empty(&f->pops); f->arrive--, n++)
		demi__task_complete(first(&f->pops));
	if (f->clock)
		*wait_fake_now() += f->pass_ns;
	return n;
}

static int fake_init(struct demi__libos *los)
{
	wait_fake.los = los;
	demi__list_init(&wait_fake.pops);
	demi__list_init(&wait_fake.pushes);
	demi__bg_add(&los->rt, &wait_fake.bg, fake_pass, NULL);
	return 0;
}

static void fake_fini(struct demi__libos *los)
{
	(void)los;
	demi__bg_remove(&wait_fake.bg);
}

static int fake_socket(struct demi__libos *los, int domain, int type, int protocol,
		       struct demi__queue **q_out)
{
	(void)los;
	(void)domain;
	(void)protocol;
	if (!(*q_out = calloc(1, sizeof(**q_out))))
		return -ENOMEM;
	(*q_out)->type = type;
	return 0;
}

/* A push is done at once (sent), as catnip's UDP pushes are, or with push_later on the next
 * pass (a TCP push waiting for the window). */
static int fake_push(struct demi__queue *q, struct demi__task *t, struct demi__push_req *req,
		     const struct sockaddr_in *to)
{
	(void)q;
	(void)to;
	demi__push_req_put(req);
	if (wait_fake.push_later)
		demi__list_push_back(&wait_fake.pushes, &t->wait_link);
	else
		demi__task_complete(t);
	return 0;
}

static int fake_pop(struct demi__queue *q, struct demi__task *t)
{
	(void)q;
	demi__list_push_back(&wait_fake.pops, &t->wait_link);
	return 0;
}

/* Cancels the queue's pending pops, as every libOS's close does. */
static int fake_close(struct demi__queue *q)
{
	struct demi__list *n, *next;

	for (n = wait_fake.pops.next; n != &wait_fake.pops; n = next) {
		struct demi__task *t = demi__container_of(n, struct demi__task, wait_link);

		next = n->next;
		if (t->queue == q)
			demi__task_fail(t, ECANCELED);
	}
	free(q);
	return 0;
}

static void fake_end_call(struct demi__libos *los, bool may_wait)
{
	(void)los;
	wait_fake.end_calls++;
	wait_fake.last_may_wait = may_wait;
}

/* A sleep on the fake clock: the whole timeout, or io_wake_after_ns and then an event (a pop
 * arrives on the next pass). */
int wait_fake_poll_io(struct demi__libos *los, uint64_t timeout_ns)
{
	struct wait_fake *f = &wait_fake;

	(void)los;
	f->io_calls++;
	f->io_timeout_ns = timeout_ns;
	f->io_called_at = *wait_fake_now();
	if (f->io_wake_after_ns < timeout_ns) {
		*wait_fake_now() += f->io_wake_after_ns;
		if (f->arrive < INT32_MAX) /* a stuck test may have set it to the maximum */
			f->arrive++;
		return 1;
	}
	if (timeout_ns == UINT64_MAX) {
		f->stuck = true; /* would sleep for ever */
		f->arrive = INT32_MAX;
		return 1;
	}
	*wait_fake_now() += timeout_ns;
	return 0;
}

struct demi__libos_ops wait_fake_ops = {
	.name = "test-wait-fake",
	.init = fake_init,
	.fini = fake_fini,
	.socket = fake_socket,
	.push = fake_push,
	.pop = fake_pop,
	.close = fake_close,
	.end_call = fake_end_call,
};

/* used: with LTO, only the linker's wrapping refers to it. */
const struct demi__libos_ops *__wrap_demi__libos_find(const char *name, bool *known);
__attribute__((used)) const struct demi__libos_ops *__wrap_demi__libos_find(const char *name,
									    bool *known)
{
	(void)name;
	*known = true;
	return &wait_fake_ops;
}

int wait_fake_setup(void **state)
{
	(void)state;
	memset(&wait_fake, 0, sizeof(wait_fake));
	wait_fake.io_wake_after_ns = UINT64_MAX;
	return demi_init(NULL) == 0 ? 0 : -1;
}

int wait_fake_teardown(void **state)
{
	struct demi__debug_counts c;

	(void)state;
	assert_int_equal(demi__debug_counts(&c), 0);
	demi__fini();
	assert_false(wait_fake.stuck);
	/* Every buffer the test allocated was freed or pushed, every token waited for and every
	 * queue closed: what a leak in lib/ or in the fake would leave behind. */
	assert_int_equal(c.bufs_in_use - c.bufs_cached, 0);
	assert_int_equal(c.tasks_in_use, 0);
	assert_int_equal(c.queues_open, 0);
	return 0;
}

void wait_fake_use_clock(uint64_t start_ns, uint64_t pass_ns)
{
	demi__clock_use_fake(&wait_fake.los->rt, start_ns);
	wait_fake.clock = true;
	wait_fake.pass_ns = pass_ns;
}

int wait_fake_open_queue(void)
{
	int qd = -1;

	assert_int_equal(demi_socket(&qd, AF_INET, SOCK_DGRAM, 0), 0);
	return qd;
}
