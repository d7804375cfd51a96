/* LD_PRELOAD shim for benchmarking without Intel AMX on a CPU that has it.
 *
 * Linux hands out AMX tile state only to a process that asks for it with
 * arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); onnxruntime's MLAS asks once at start-up
 * (through glibc's syscall()) and falls back to AVX-512 VNNI when refused. This shim refuses,
 * so a bench run shows what a CPU without AMX (AWS Lambda's x86_64 today) would get:
 *
 *   gcc -O2 -shared -fPIC -o build/noamx.so bench/noamx.c -ldl
 *   LD_PRELOAD=$PWD/build/noamx.so .venv/bin/python -m bench.run --only bakeoff
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>

#define ARCH_REQ_XCOMP_PERM 0x1023

long syscall(long number, ...) {
    va_list ap;
    long a[6];
    va_start(ap, number);
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_arch_prctl && a[0] == ARCH_REQ_XCOMP_PERM) {
        errno = EPERM;
        return -1;
    }
    static long (*real)(long, ...);
    if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
