/* portcullis.conf(5): every key of the parser's table is documented under
 * its section, with its default, in the generated page (and only there
 * once); the generator refuses a key it cannot document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		fail_msg("%s: cannot open", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
test_every_key_documented(void **state)
{
	const char *bdir = getenv("PC_BUILDDIR");
	char path[1024], head[128], item[256];
	char *page;
	size_t nkeys = conf_key_count();
	(void)state;

	snprintf(path, sizeof(path), "%s/man/portcullis.conf.5", bdir ? bdir : ".");
	page = slurp(path);
	assert_true(nkeys > 100);
	for (size_t i = 0; i < nkeys; i++) {
		struct conf_key_doc k;
		const char *sec, *end, *it;

		conf_key_doc(i, &k);
		snprintf(head, sizeof(head), "\n.Ss \\&[%s]\n", k.section);
		sec = strstr(page, head);
		if (sec == NULL)
			fail_msg("section [%s] is not in %s", k.section, path);
		end = strstr(sec + 1, "\n.Ss ");
		snprintf(item, sizeof(item), "\n.It Cm %s No = Ar %s\n", k.key,
		         k.def[0] ? k.def : "\"\"");
		it = strstr(sec, item);
		if (it == NULL || (end && it > end))
			fail_msg("[%s] %s (default %s) is not documented in %s", k.section, k.key,
			         k.def, path);
		/* the type line follows */
		assert_true(strncmp(it + strlen(item), "(", 1) == 0);
	}
	free(page);
}

static void
test_key_doc(void **state)
{
	int seen_size = 0, seen_enum = 0, seen_duration = 0;
	(void)state;

	for (size_t i = 0; i < conf_key_count(); i++) {
		struct conf_key_doc k;

		conf_key_doc(i, &k);
		if (strcmp(k.section, "scan") == 0 && strcmp(k.key, "max_total_bytes") == 0) {
			assert_string_equal(k.type, "size");
			assert_string_equal(k.range, "1M..64G");
			seen_size = 1;
		}
		if (strcmp(k.section, "inbound") == 0 && strcmp(k.key, "encrypted") == 0) {
			assert_string_equal(k.range, "pass | reject | quarantine | tempfail");
			seen_enum = 1;
		}
		if (strcmp(k.section, "smtp") == 0 && strcmp(k.key, "command_timeout") == 0) {
			assert_string_equal(k.range, "100ms..1d");
			assert_string_equal(k.def, "300s");
			seen_duration = 1;
		}
	}
	assert_true(seen_size && seen_enum && seen_duration);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_doc),
	    cmocka_unit_test(test_every_key_documented),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
