/* No-op replacement for libgfortran's _gfortran_set_fpe.
 *
 * Debian's xfoil 6.99 is compiled with -ffpe-trap, so the first floating-point
 * exception in the viscous solver (harmless there: XFOIL checks its own
 * results) kills it with SIGFPE. Preloading this library stops the runtime
 * from enabling the traps; XFOIL then behaves like the upstream build.
 */
void _gfortran_set_fpe(int flags) { (void)flags; }
