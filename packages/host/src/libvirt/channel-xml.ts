/**
 * The <channel> device XML handed to `virsh attach-device`/`detach-device`.
 * libvirt chooses the host socket path itself (under
 * /var/lib/libvirt/qemu/channel/target/) when <source> names none.
 */

/** Target names are a short dotted word; anything else never reaches the XML. */
const CHANNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function checkName(name: string): string {
  if (!CHANNEL_NAME.test(name)) throw new Error(`bad channel name "${name}"`);
  return name;
}

function attr(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;');
}

/** What attach-device adds (live and config alike). */
export function channelXml(name: string): string {
  return `<channel type='unix'><source mode='bind'/><target type='virtio' name='${checkName(name)}'/></channel>\n`;
}

/**
 * What detach-device matches: the persistent config by target name alone;
 * the running domain also by the socket path libvirt gave it (measured on
 * libvirt 9.0: without the path, detaching live reports "device not found").
 */
export function channelMatchXml(name: string, livePath?: string): string {
  const source = livePath ? `<source mode='bind' path='${attr(livePath)}'/>` : '';
  return `<channel type='unix'>${source}<target type='virtio' name='${checkName(name)}'/></channel>\n`;
}
