#include "framestamp/daemon.hpp"

int main(int argc, char** argv) {
    return framestamp::daemon_main(argc, argv);
}
