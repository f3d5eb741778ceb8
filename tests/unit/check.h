// The unit tests' check macro: counts checks and failures, prints each failure with its
// location; main() prints "<name>: N checks, M failed" and returns CHECK_EXIT.
#ifndef VKD_TESTS_UNIT_CHECK_H
#define VKD_TESTS_UNIT_CHECK_H

#include <stdio.h>

static int failures = 0, checks = 0;
#define CHECK(cond, ...)                                                 \
    do {                                                                 \
        checks++;                                                        \
        if (!(cond)) {                                                   \
            failures++;                                                  \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);         \
            fprintf(stderr, __VA_ARGS__);                                \
            fprintf(stderr, "\n");                                       \
        }                                                                \
    } while (0)

#endif
