/*
 * hs_match.h: the Hyperscan match callback of the tests that scan with a
 * database they compiled or loaded: sets bit id in the unsigned at arg.
 * Header-only.
 */
#ifndef PC_TEST_HS_MATCH_H
#define PC_TEST_HS_MATCH_H

static __attribute__((unused)) int
on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
         void *arg)
{
	(void)from;
	(void)to;
	(void)flags;
	*(unsigned *)arg |= 1u << id;
	return 0;
}

#endif
