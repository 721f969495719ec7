/* fanout (fanout.h): placeholder until the libcurl multi implementation lands. */
#include "provider/fanout.h"

#include <string.h>

#include "util/xalloc.h"

void
fanout_opts_default(struct fanout_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->parallel = 256;
	o->connect_timeout_ms = 2000;
	o->timeout_ms = 5000;
	o->attempts = 4;
	o->backoff_ms = 500;
}

int
fanout_push(const struct fanout_opts *o, const char *state_dir, const char *message, uint64_t seq,
            const char *envelope, struct fanout_stats *st, char **err)
{
	(void)o, (void)state_dir, (void)message, (void)seq, (void)envelope;
	memset(st, 0, sizeof(*st));
	*err = xstrdup("fan-out is not built yet");
	return -1;
}

int
fanout_start(const struct fanout_opts *o, const char *state_dir, const char *message,
             uint64_t seq, const char *envelope, char **err)
{
	struct fanout_stats st;

	return fanout_push(o, state_dir, message, seq, envelope, &st, err);
}
