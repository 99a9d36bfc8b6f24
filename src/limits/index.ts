export { ConsumerLimiter, counterKey, type Admitted, type CounterInput } from './consumer-limiter.ts';
export { periodWindow, type PeriodWindow, type QuotaPeriod } from './quota-period.ts';
export { SlidingWindow } from './sliding-window.ts';
