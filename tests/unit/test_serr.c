/* Unit test of the one mapping from storage errors (serr.h) to the Kafka
 * error codes a client is told (gr_api_serr_kerr): every storage error,
 * in the order of the enum, with the code of Kafka's own check (by name
 * and by its number on the wire). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "api.h"
#include "kerr.h"
#include "serr.h"

static const struct {
    gr_serr_t serr;
    gr_kerr_t kerr;
    int16_t wire;
} map[] = {
    {GR_SERR_NONE, KERR_NONE, 0},
    {GR_SERR_IO, KERR_KAFKA_STORAGE_ERROR, 56},
    {GR_SERR_TOPIC_EXISTS, KERR_TOPIC_ALREADY_EXISTS, 36},
    {GR_SERR_TOPIC_NAME, KERR_INVALID_TOPIC_EXCEPTION, 17},
    {GR_SERR_PARTITIONS, KERR_INVALID_PARTITIONS, 37},
    {GR_SERR_CORRUPT_BATCH, KERR_CORRUPT_MESSAGE, 2},
    {GR_SERR_BATCH_TOO_LARGE, KERR_MESSAGE_TOO_LARGE, 10},
    {GR_SERR_INVALID_RECORD, KERR_INVALID_RECORD, 87},
    {GR_SERR_INVALID_TIMESTAMP, KERR_INVALID_TIMESTAMP, 32},
    {GR_SERR_COMPRESSION, KERR_UNSUPPORTED_COMPRESSION_TYPE, 76},
    {GR_SERR_PRODUCER_EPOCH, KERR_INVALID_PRODUCER_EPOCH, 47},
    {GR_SERR_SEQUENCE, KERR_OUT_OF_ORDER_SEQUENCE_NUMBER, 45},
    {GR_SERR_TXN_STATE, KERR_INVALID_TXN_STATE, 48},
    {GR_SERR_COORDINATOR_EPOCH, KERR_TRANSACTION_COORDINATOR_FENCED, 52},
};
#define NMAP (sizeof(map) / sizeof(map[0]))

static void test_every_storage_error(void **state)
{
    (void)state;
    for (size_t i = 0; i < NMAP; i++) {
        assert_int_equal(map[i].serr, (int)i);      /* the table lists the enum in order, none left out */
        assert_int_equal(map[i].kerr, map[i].wire);
        assert_int_equal(gr_api_serr_kerr(map[i].serr), map[i].kerr);
    }
    /* one past the last: a storage error added without a line above would
     * map to its code, not to UNKNOWN_SERVER_ERROR */
    assert_int_equal(gr_api_serr_kerr((gr_serr_t)NMAP), KERR_UNKNOWN_SERVER_ERROR);
}

static void test_refusals_are_distinct(void **state)
{
    (void)state;
    /* each refusal is its own Kafka code: a client can tell them apart */
    for (size_t i = 0; i < NMAP; i++)
        for (size_t j = i + 1; j < NMAP; j++)
            assert_int_not_equal(gr_api_serr_kerr(map[i].serr), gr_api_serr_kerr(map[j].serr));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_storage_error),
        cmocka_unit_test(test_refusals_are_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
