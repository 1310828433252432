/* Unit tests for crc32c.c: CRC-32C vectors on both implementations. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "batch.h"

static void test_vectors(void **state)
{
    (void)state;
    uint8_t zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof(ones));
    uint32_t (*fns[])(uint32_t, const void *, size_t) = {gr_crc32c_sw, gr_crc32c_hw, gr_crc32c};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(fns[i](0, "123456789", 9), 0xE3069283u);
        assert_int_equal(fns[i](0, zeros, 32), 0x8A9136AAu);
        assert_int_equal(fns[i](0, ones, 32), 0x62A8AB43u);
        assert_int_equal(fns[i](0, "", 0), 0u);
        /* chaining */
        assert_int_equal(fns[i](fns[i](0, "1234", 4), "56789", 5), 0xE3069283u);
    }
}

static void test_hw_matches_sw(void **state)
{
    (void)state;
    if (!gr_crc32c_hw_available())
        skip();
    uint8_t buf[1024 + 16];
    srand(7);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)rand();
    for (size_t align = 0; align < 8; align++)
        for (size_t n = 0; n < 1024; n += 37)
            assert_int_equal(gr_crc32c_sw(0, buf + align, n), gr_crc32c_hw(0, buf + align, n));
    /* lengths around the 3-block paths (3 x 256 B and 3 x 8 KiB) */
    static uint8_t big[4 * 3 * 8192 + 16];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)rand();
    size_t lens[] = {767, 768, 769, 1535, 1536, 3 * 256 + 8, 24575, 24576, 24577, 24576 + 768,
                     2 * 24576 + 767, 4 * 24576};
    for (size_t align = 0; align < 8; align += 3)
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            assert_int_equal(gr_crc32c_sw(0, big + align, lens[i]), gr_crc32c_hw(0, big + align, lens[i]));
            assert_int_equal(gr_crc32c_sw(0x12345678u, big + align, lens[i]),
                             gr_crc32c_hw(0x12345678u, big + align, lens[i]));
        }
}

static void test_crc32_ieee(void **state)
{
    (void)state;
    assert_int_equal(gr_crc32(0, "123456789", 9), 0xCBF43926u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_hw_matches_sw),
        cmocka_unit_test(test_crc32_ieee),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
