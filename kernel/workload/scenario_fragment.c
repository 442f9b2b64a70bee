#include "scenario.h"
void scenario_fragment(struct scenario_run *run) { (void)run; }
