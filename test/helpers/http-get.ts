import { get } from 'node:http';

/** The body of a plain HTTP GET (loopback only in these tests). */
export function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (d: string) => (body += d))
        .on('end', () => resolve(body));
    }).on('error', reject);
  });
}
