/**
 * The course's panels in the browser: when the course declares any, a row of
 * tabs tops the terminal pane, "Terminals" first, then one per panel. A
 * panel's bundle (`/panels/:id/panel.js`, and its CSS) is loaded the first
 * time its tab is opened, and its `mount(host, { dataUrl, env })` is called
 * once; afterwards the tab only shows and hides it, telling the panel so it
 * can stop polling while nobody looks.
 */
import type { PanelOutline } from '../server/panels.js';
import './panels.css';

/** What a panel's browser module is told: where its data is served, and for which environment. */
export interface PanelContext {
  dataUrl: string;
  env: number;
}

/** What a panel's browser module exports. */
export interface PanelModule {
  mount(host: HTMLElement, context: PanelContext): PanelView | void;
}

export interface PanelView {
  show?(): void;
  hide?(): void;
}

interface PanelTab {
  outline: PanelOutline;
  host: HTMLElement;
  view?: Promise<PanelView | void>;
}

/** Adds the tabs to `pane` (the terminal pane); `terminalsShown` is called when the terminals come back into view. */
export async function setupPanels(pane: HTMLElement, env: number, terminalsShown: () => void): Promise<void> {
  const res = await fetch('/api/panels', { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`the course's panels could not be listed: ${res.status} ${res.statusText}`);
  const outlines = (await res.json()) as PanelOutline[];
  if (outlines.length === 0) return;

  const bar = document.createElement('nav');
  bar.id = 'pane-tabs';
  bar.setAttribute('role', 'tablist');
  const tabs: PanelTab[] = outlines.map((outline) => {
    const host = document.createElement('section');
    host.className = 'lab-panel';
    host.dataset.panel = outline.id;
    host.hidden = true;
    pane.append(host);
    return { outline, host };
  });
  let shown: PanelTab | undefined;

  const button = (label: string, id: string, onClick: () => void) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('role', 'tab');
    b.dataset.paneTab = id;
    b.textContent = label;
    b.onclick = onClick;
    bar.append(b);
    return b;
  };
  const select = (id: string) => {
    for (const b of bar.querySelectorAll<HTMLElement>('button')) b.setAttribute('aria-selected', String(b.dataset.paneTab === id));
    pane.classList.toggle('showing-panel', id !== '');
  };

  button('Terminals', '', () => {
    if (shown) void shown.view?.then((v) => v?.hide?.());
    for (const t of tabs) t.host.hidden = true;
    shown = undefined;
    select('');
    terminalsShown();
  });
  for (const tab of tabs) {
    button(tab.outline.title, tab.outline.id, () => {
      if (shown === tab) return;
      if (shown) void shown.view?.then((v) => v?.hide?.());
      for (const t of tabs) t.host.hidden = t !== tab;
      shown = tab;
      select(tab.outline.id);
      if (!tab.view) tab.view = mountPanel(tab, env);
      else void tab.view.then((v) => v?.show?.());
    });
  }
  pane.prepend(bar);
  select('');
}

async function mountPanel(tab: PanelTab, env: number): Promise<PanelView | void> {
  const id = encodeURIComponent(tab.outline.id);
  try {
    const css = document.createElement('link');
    css.rel = 'stylesheet';
    css.href = `/panels/${id}/panel.css`;
    document.head.append(css);
    // A computed URL: the bundler leaves the import to the browser.
    const url = `/panels/${id}/panel.js`;
    const mod = (await import(url)) as Partial<PanelModule>;
    if (typeof mod.mount !== 'function') throw new Error('its module exports no mount(host, context)');
    return mod.mount(tab.host, { dataUrl: `/api/env/${env}/${id}`, env });
  } catch (error) {
    tab.host.textContent = `The panel "${tab.outline.title}" could not start: ${(error as Error).message}`;
    tab.host.classList.add('lab-panel-failed');
    return undefined;
  }
}
