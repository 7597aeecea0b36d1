/* daemon: placeholder until its module lands. */
#include "autoconfig.h"
