#include "scenario.h"
void scenario_dma(struct scenario_run *run) { (void)run; }
