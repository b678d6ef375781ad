/** A name as typed, or JSON-quoted when it holds control characters or white space (a terminal stays safe). */
export function display(name: string): string {
  return /^[^\s\p{C}]+$/u.test(name) ? name : JSON.stringify(name);
}
