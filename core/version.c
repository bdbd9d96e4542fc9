#include "include/herd.h"

#define HD_STR2(x) #x
#define HD_STR(x) HD_STR2(x)

const char *hd_version(void) {
    return HD_STR(HERD_VERSION_MAJOR) "." HD_STR(HERD_VERSION_MINOR) "." HD_STR(HERD_VERSION_PATCH);
}
