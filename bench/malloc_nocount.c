/* Sanitizer builds: allocation counting is not available. */
#include <stddef.h>

#include "malloc_count.h"

unsigned long mc_allocations(void)
{
    return 0;
}

int mc_available(void)
{
    return 0;
}
