/**
 * The part of Cockpit's page API (../base1/cockpit.js, a global) this page
 * uses: spawn, its stream, the logged-in user, and the bridge's D-Bus for
 * the superuser's state.
 */
declare namespace cockpit {
  interface SpawnOptions {
    superuser?: 'try' | 'require';
    err?: 'message' | 'out' | 'ignore';
    environ?: string[];
  }
  interface SpawnFailure {
    problem: string | null;
    exit_status: number | null;
    exit_signal: number | null;
    message: string;
  }
  interface Spawn extends PromiseLike<string> {
    stream(callback: (data: string) => void): Spawn;
    close(problem?: string): void;
    then<T1 = string, T2 = never>(ok?: ((data: string) => T1 | PromiseLike<T1>) | null, fail?: ((ex: SpawnFailure, data: string | null) => T2 | PromiseLike<T2>) | null): Promise<T1 | T2>;
  }
  interface DBusProxy {
    valid: boolean;
    wait(callback?: () => void): Promise<void>;
    addEventListener(event: 'changed', listener: () => void): void;
    [property: string]: unknown;
  }
  interface DBusClient {
    proxy(iface: string, path: string): DBusProxy;
  }
  function spawn(args: string[], options?: SpawnOptions): Spawn;
  function user(): Promise<{ name: string; id: number }>;
  function dbus(name: string | null, options?: { bus?: string }): DBusClient;
  function translate(): void;
}
