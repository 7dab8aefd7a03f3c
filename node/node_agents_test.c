/*
 * node_agents_test.c - catalog ids of agent services: unique for every
 * pair (shed, service) that has one, refused (never cut, never left
 * unwritten) for the pairs that do not fit a record name. The old id cut
 * the shed part: sheds `ab` and `ac` registering the same 62-byte name
 * both got ".<name>" and could deregister each other's service, and a
 * 63-byte name left the id unwritten.
 */
#include "node/node_agents.h"

#include "cluster/records.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void
s_name (char *buf, size_t len, char c)
{
    memset (buf, c, len);
    buf[len] = '\0';
}

static void
test_service_ids (void **state)
{
    (void) state;
    char id[REC_NAME_MAX + 1], id2[REC_NAME_MAX + 1], name[64], shed[64];
    assert_int_equal (shed_agents_service_id ("dev-1", "web", id, sizeof id), 0);
    assert_string_equal (id, "dev-1.web");

    /* A 63-byte service name: no room for any shed: refused, id untouched. */
    s_name (name, 63, 'n');
    memset (id, 'X', sizeof id);
    assert_int_equal (shed_agents_service_id ("a", name, id, sizeof id), -1);
    assert_int_equal (id[0], 'X');

    /* 62 bytes: fits only with a one-letter shed; two sheds never share it. */
    s_name (name, 61, 'n');
    assert_int_equal (shed_agents_service_id ("a", name, id, sizeof id), 0);
    assert_int_equal (shed_agents_service_id ("b", name, id2, sizeof id2), 0);
    assert_string_not_equal (id, id2);
    assert_int_equal (strlen (id), REC_NAME_MAX);
    s_name (name, 62, 'n');
    assert_int_equal (shed_agents_service_id ("ab", name, id, sizeof id), -1);
    assert_int_equal (shed_agents_service_id ("ac", name, id2, sizeof id2), -1);

    /* Every length split that fits is whole and starts with "<shed>." */
    for (size_t sl = 1; sl <= 63; sl++)
        for (size_t nl = 1; nl <= 63; nl++) {
            s_name (shed, sl, 's');
            s_name (name, nl, 'n');
            int rc = shed_agents_service_id (shed, name, id, sizeof id);
            if (sl + 1 + nl > REC_NAME_MAX) {
                assert_int_equal (rc, -1);
                continue;
            }
            assert_int_equal (rc, 0);
            assert_int_equal (strlen (id), sl + 1 + nl);
            assert_memory_equal (id, shed, sl);
            assert_int_equal (id[sl], '.');
            assert_string_equal (id + sl + 1, name);
        }
    /* A buffer too small is refused too. */
    char small[8];
    assert_int_equal (shed_agents_service_id ("dev-1", "web-2", small, sizeof small), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_service_ids),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
