// Never compiled: a planted violation that the include rule must report (tests/build_rules).
#include <string>

#include "report/schema.h"
#include "../sim/engine/recorder.h"
